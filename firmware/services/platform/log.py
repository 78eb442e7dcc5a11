"""The event log: a bounded ring of recent entries in RAM, also printed to the console.

Entries are (seq, ticks_ms, kind, text). The charging core cannot format text in its
allocation-free tick, so it writes numeric events to a ring that `follow()` turns into
entries here. Persistence to flash is added by the platform's log store.
"""
import asyncio
from time import ticks_ms

from firmware.core import charger as ch
from firmware.core import faults

INFO = "info"
FAULT = "fault"
ERROR = "error"
SESSION = "session"


class Log:
    def __init__(self, size=24, echo=True):
        self.size = size
        self.echo = echo
        self.entries = []
        self.seq = 0
        self.sinks = []  # callables(entry) that persist or forward entries

    def add(self, kind, text):
        self.seq += 1
        e = (self.seq, ticks_ms(), kind, text)
        self.entries.append(e)
        if len(self.entries) > self.size:
            self.entries.pop(0)
        if self.echo:
            print("[%s] %s" % (kind, text))
        for sink in self.sinks:
            try:
                sink(e)
            except Exception as err:  # noqa: BLE001 - a broken sink must not stop logging
                print("log sink failed:", err)
        return e

    def tail(self, n=20, kind=None):
        out = [e for e in self.entries if kind is None or e[2] == kind]
        return out[-n:]

    async def follow(self, control, period_ms=100):
        """Turn the charging core's numeric events into log entries."""
        seen = control.charger.ev_head
        while True:
            c = control.charger
            if c.ev_head < seen:  # the core was restarted
                seen = 0
            if c.ev_head - seen > len(c.ev_kind):  # overrun: say so rather than guess
                self.add(ERROR, "%d core events lost" % (c.ev_head - seen - len(c.ev_kind)))
                seen = c.ev_head - len(c.ev_kind)
            while seen < c.ev_head:
                i = seen % len(c.ev_kind)
                self._core_event(c.ev_kind[i], c.ev_code[i])
                seen += 1
            await asyncio.sleep_ms(period_ms)

    def _core_event(self, kind, code):
        if kind == ch.EV_PHASE:
            self.add(INFO, "phase now %s" % ch.PHASE_NAMES[code])
        elif kind == ch.EV_FAULT:
            self.add(FAULT, "fault %d: %s" % (code, faults.meaning(code)))
        elif kind == ch.EV_RELAY:
            self.add(INFO, "relay closed" if code else "relay opened")
        elif kind == ch.EV_RETRY:
            self.add(INFO, "automatic retry %d" % code)
        elif kind == ch.EV_VENT_REFUSED:
            self.add(INFO, "vehicle asks for ventilation (state D): refused, none configured")
        elif kind == ch.EV_CLEARED:
            self.add(INFO, "fault %d cleared" % code)
        elif kind == ch.EV_WAKEUP:
            self.add(INFO, "wake-up pulse sent to the vehicle")
