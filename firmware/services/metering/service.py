"""Energy meters, domestic connection monitoring and solar surplus (docs/meters.md):
the settings, always registered so a stored configuration is kept, and the supervised
task, which the app adds once Meters.wanted(). The work is in services/metering/polling.py,
imported then too: a box without meters does not pay its RAM (nor the Modbus driver's).
"""
import asyncio
import gc

from micropython import const

from firmware.core import settings
from firmware.core.settings import BOOL, CHOICE, HOST, INT, STR

_MODELS = const(("sdm630", "sdm72", "sdm120", "sdm230", "b23", "b24", "em330", "em340", "custom"))
settings.extend({
    "meter.enabled": (BOOL, False, None, None),  # domestic connection monitoring
    "meter.transport": (CHOICE, "rtu", ("rtu", "tcp"), None),  # RS485, or TCP / gateway
    "meter.model": (CHOICE, "sdm630", _MODELS, None),
    "meter.host": (HOST, "", None, None),
    "meter.port": (INT, 502, 1, 65535),
    "meter.address": (INT, 1, 1, 247),  # RS485 address (also behind a TCP gateway)
    "meter.baud": (CHOICE, 9600, (2400, 4800, 9600, 19200, 38400), None),
    "meter.custom": (STR, "", 0, 240),  # the "custom" model's map (docs/meters.md)
    "meter.poll_ms": (INT, 1000, 200, 10000),
    "meter.timeout_ms": (INT, 500, 100, 5000),
    "meter.lost_s": (INT, 10, 2, 300),  # no valid reading this long: meter lost, 10 A
    "house.fuse_a": (INT, 25, 6, 630),  # main fuse per phase
    "house.resume_s": (INT, 30, 1, 600),  # headroom >= 7 A this long ends a pause
    "solar.enabled": (BOOL, False, None, None),  # solar TCP meter
    "solar.model": (CHOICE, "sdm630", _MODELS, None),
    "solar.host": (HOST, "", None, None),
    "solar.port": (INT, 502, 1, 65535),
    "solar.address": (INT, 1, 1, 247),
    "solar.start_s": (INT, 60, 0, 3600),  # surplus >= 6 A this long starts charging
    "solar.stop_s": (INT, 300, 0, 3600),  # surplus < 6 A this long stops it
    "charging.mode": (CHOICE, "immediate", ("immediate", "solar", "min+solar"), None),
})


class Meters:
    def __init__(self, app):
        self.app = app
        self.impl = None  # services.metering.polling.Metering once needed

    async def _load(self):
        # One module per step, yielding in between: loading code holds the event loop.
        if self.impl is None:
            gc.collect()  # room for the code in one piece rather than in the gaps
            await asyncio.sleep_ms(0)
            from firmware.core import meters  # noqa: F401
            await asyncio.sleep_ms(0)
            from firmware.core import loadmgmt  # noqa: F401
            await asyncio.sleep_ms(0)
            from firmware.drivers import modbus  # noqa: F401
            await asyncio.sleep_ms(0)
            from firmware.services.metering.polling import Metering
            await asyncio.sleep_ms(0)
            if self.impl is None:
                self.impl = Metering(self.app)
                await asyncio.sleep_ms(0)  # made in a step; its first poll is the next
        return self.impl

    def wanted(self):
        """Whether the app should run this service's task (App.start_switched_on)."""
        c = self.app.config.values
        return c["meter.enabled"] or c["solar.enabled"] or c["charging.mode"] != "immediate"

    async def run(self):
        """The app starts it once wanted() (it follows later changes itself)."""
        await (await self._load()).run()

    async def test_connection(self, which="grid"):
        """Read the configured meter ("grid" or "solar") once, now: see Metering."""
        return await (await self._load()).test_connection(which)
