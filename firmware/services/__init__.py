"""Asyncio tasks and the timer-driven control loop, one package per capability. platform
(log, records, supervisor, update) is the base; net (links, streams) builds on it;
charging, ocpp, web, metering, mqtt and rfid use those two and never each other. Only
firmware/app.py wires them together."""
