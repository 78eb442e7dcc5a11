"""RFID cards: the task that polls the reader and applies core/auth (service), listing
and editing the whitelist file (cards, loaded on first use). May import core, drivers,
platform and rfid, no other service package."""
