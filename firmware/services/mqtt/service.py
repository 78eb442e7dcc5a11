"""MQTT for home automation (docs/mqtt.md): the settings, always registered so a stored
configuration is kept, and the supervised task, which the app adds once MQTT is switched
on. The client is services/mqtt/link.py, imported then too: a box without MQTT does not
pay its RAM.
"""
import asyncio
import gc

from firmware.core import settings
from firmware.core.settings import BOOL, INT, NAME, STR, TOPIC
from firmware.services.platform.log import ERROR

settings.extend({
    "mqtt.enabled": (BOOL, False, None, None),
    "mqtt.host": (NAME, "", 0, 64),  # the broker's host name or IPv4 address
    "mqtt.port": (INT, 1883, 1, 65535),
    "mqtt.tls": (BOOL, False, None, None),  # TLS (not verified: no CA is configured)
    "mqtt.user": (STR, "", 0, 64),
    "mqtt.password": (STR, "", 0, 64),
    "mqtt.base": (TOPIC, "", 0, 64),  # "" = "wallbox/<serial>"
    "mqtt.discovery": (BOOL, True, None, None),  # home automation discovery records
    "mqtt.discovery_prefix": (TOPIC, "homeassistant", 1, 64),
    "mqtt.interval_s": (INT, 30, 1, 3600),  # states are also published on each change
    "mqtt.card": (BOOL, False, None, None),  # publish the authorizing card's UID
})


class Mqtt:
    def __init__(self, app):
        self.app = app
        self.link = None  # services.mqtt.link.Link once switched on

    def _load(self):
        if self.link is None:
            gc.collect()  # room for the code in one piece rather than in the gaps
            from firmware.services.mqtt.link import Link
            self.link = Link(self.app)
        return self.link

    def wanted(self):
        """Whether the app should run this service's task (App.start_switched_on)."""
        return self.app.config.values["mqtt.enabled"]

    async def run(self):
        while True:
            while not self.app.config.values["mqtt.enabled"]:
                await asyncio.sleep_ms(1000)
            try:
                link = self._load()
            except MemoryError:  # never a crash (that would halt charging): later
                self.app.log.add(ERROR, "MQTT: not enough memory to start")
                await asyncio.sleep_ms(60000)
                continue
            await link.run()  # returns once switched off (discovery removed)

    async def test_connection(self):
        """Connect to the configured broker once, now: {"ok": True} or the reason."""
        why = await self._load().probe()
        return {"ok": True} if why is None else {"ok": False, "error": why}

    def status(self):
        """For the status page: "off", "connected" or the last connection problem."""
        if not self.app.config.values["mqtt.enabled"]:
            return "off"
        k = self.link
        return "connecting" if k is None else ("connected" if k.connected else
                                                k.error or "connecting")
