"""The session task: once a second, the current session's energy from the power drawn,
and its start and end in the data log (with the energy and the authorizing card).

The status page reads the same tracker, so the page and the log agree on the energy.
"""
import asyncio
from time import ticks_diff, ticks_ms

from firmware.core import limits
from firmware.core.session import ENDED, STARTED, Session, phase_da, power_w


class Sessions:
    def __init__(self, control, config, datalog, holder):
        self.control = control
        self.config = config
        self.datalog = datalog
        self.holder = holder  # () -> the UID holding the authorization, "" or None
        self.now = Session()

    def currents(self):
        """[L1, L2, L3] drawn now, in 0.1 A."""
        c = self.control.charger
        return phase_da(self.control.phase_da, c.relay, c.current_da,
                        self.config.get("charging.phases"))

    def watts(self):
        c = self.control.charger
        return power_w(self.currents(), c.mains_dv, c.relay)

    def sample(self, dt_ms):
        c = self.control.charger
        s = self.now
        ev = s.update(c.pilot.vehicle, self.watts(), dt_ms, self.holder())
        if ev == STARTED:
            self.datalog.session("start")
        elif ev == ENDED:
            self.datalog.session("end", s.wh, s.card)
            self.control.arbiter.clear(limits.APP)  # the app's claim ends with the session

    async def run(self, period_ms=1000):
        last = ticks_ms()
        while True:
            await asyncio.sleep_ms(period_ms)
            now = ticks_ms()
            self.sample(ticks_diff(now, last))
            last = now
