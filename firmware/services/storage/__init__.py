"""Removable storage: the SD card slot (slot), the manual's "USB settings". May import
core, drivers, platform and storage, no other service package."""
