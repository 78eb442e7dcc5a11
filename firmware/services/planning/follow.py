"""Intelligent charging without a backend (docs/planning.md), loaded by service.py once
it is configured: follows the session twice a second, the per-session energy and time limits (the
arbiter's SESSION claim), the touch button switching immediate <-> intelligent, the
charging-mode indicator. The plan itself (the PLAN claim), the local API's and MQTT's
requests and the price feed are in plans.py, imported on first use (intelligent mode,
a price feed, a request), so a box that never plans does not pay their RAM.

At plug-in the mode comes from `plan.mode`. With the backend enabled, the backend owns
the touch button and the indicator (its mode and `forced`); the local plan yields to
its schedule while it is online (`Arbiter.backend_schedule`).
"""
import asyncio
import time
from time import ticks_diff, ticks_ms

from micropython import const

from firmware.core import front, limits
from firmware.services.platform import datalog
from firmware.services.platform.log import INFO

_EPOCH = 946684800 if time.gmtime(0)[0] == 2000 else 0
_CLOCK_OK = const(1735689600)  # 2025-01-01: a clock before this was never set


def unix_now():
    """Unix seconds, or None while the clock was never set."""
    t = int(time.time()) + _EPOCH + datalog.clock_offset_s
    return t if t > _CLOCK_OK else None


class Follow:
    def __init__(self, app):
        self.app = app
        self.cfg = app.config
        self.intelligent = False  # this session's mode
        self.work = None  # plans.Plans, made on first use
        self.depart = None  # Unix seconds of this session's departure (None: the setting's)
        self.want_wh = None  # this session's energy wanted (None: the setting's)
        # idle, immediate, waiting (no clock), planned, done, departed
        self.state = "idle"
        self._count = 0  # the session followed (Session.count)
        self._plugged_at = 0
        self._limited = False
        self._feed = False  # the price feed's task was started

    def clock(self):
        return unix_now()

    def plans(self):
        if self.work is None:
            from firmware.services.planning.plans import Plans
            self.work = Plans(self)
        return self.work

    # ------------------------------------------------------------------ the session
    def _backend(self):
        return getattr(self.app, "backend", None)

    def _switchable(self):
        c = self.app.control.charger
        return self.app.sessions.now.plugged and c.authorized

    def touch(self):
        """The touch button: immediate <-> intelligent for this session (without a
        backend: with one, the backend's own touch handling switches its mode)."""
        if self._backend() is not None or not self._switchable():
            return
        self.set_mode(not self.intelligent, "touch button")

    def set_mode(self, intelligent, who):
        self.intelligent = intelligent
        self.app.log.add(INFO, "%s: %s charging" % (who, "intelligent" if intelligent
                                                    else "immediate"))
        self.set_session()

    def set_session(self, depart=None, want_wh=None):
        """The running session's departure (Unix seconds) and energy (Wh): plan now."""
        if depart is not None:
            self.depart = depart
        if want_wh is not None:
            self.want_wh = want_wh
        if self.work is not None:
            self.work.plan.made_ms = None
        self.step()

    def request(self, d, who):
        """The local API's and MQTT's plan for the running session (plans.py)."""
        self.plans().request(d, who)

    def step(self):
        """Follow the session; set SESSION (and through plans.py PLAN); the indicator."""
        app = self.app
        arb = app.arbiter
        s = app.sessions.now
        now_ms = ticks_ms()
        if s.count != self._count:  # a new session: the defaults again
            self._count = s.count
            self._plugged_at = now_ms
            self.intelligent = self.cfg.get("plan.mode") == "intelligent"
            self.depart = self.want_wh = None
            self._limited = False
            if self.work is not None:
                self.work.plan.made_ms = None
        if not s.plugged:
            arb.clear(limits.PLAN)
            arb.clear(limits.SESSION)
            self.state = "idle"
            self._indicate()
            return
        # per-session limits: energy and time since plug-in
        kwh = self.cfg.get("session.max_kwh")
        mins = self.cfg.get("session.max_min")
        over = (kwh > 0 and s.wh >= kwh * 1000) or \
            (mins > 0 and ticks_diff(now_ms, self._plugged_at) >= mins * 60000)
        if over != self._limited:
            self._limited = over
            if over:
                app.log.add(INFO, "session limit reached: charging ended")
        arb.set(limits.SESSION, 0 if over else None)
        b = self._backend()
        if not self.intelligent or (b is not None and b.forced):
            arb.clear(limits.PLAN)
            self.state = "immediate"
        else:
            now = unix_now()
            if now is None:  # no clock, no plan: the least current until there is one
                arb.set(limits.PLAN, self.cfg.get("plan.min_a") * 10)
                self.state = "waiting"
            else:
                self.state = self.plans().apply(now, now_ms, s)
        self._indicate()

    def _indicate(self):
        if self._backend() is not None:
            return  # the backend shows its own mode
        f = self.app.panel.front
        f.touch = front.WHITE if self._switchable() else front.OFF
        st = self.state
        f.charge_mode = front.WAITING_SCHEDULE if st == "waiting" else \
            front.INTELLIGENT if st in ("planned", "done") else front.IMMEDIATE

    async def run(self):
        try:
            while True:
                self.step()
                if not self._feed and self.cfg.get("price.url"):
                    self._feed = True  # supervised from now on (plans.py fetches)
                    self.app.supervisor.add("price feed", lambda: self.plans().feed())
                await asyncio.sleep_ms(500)  # within the self-test at plug-in
        finally:  # stopped or crashed: no stale claims
            self.app.arbiter.clear(limits.PLAN)
            self.app.arbiter.clear(limits.SESSION)

    def key(self):
        """What MQTT publishes at once when it changes."""
        return self.intelligent, self.state, None if self.work is None else self.work.plan.made_ms

    def status(self):
        """For the status API and MQTT (docs/planning.md)."""
        out = {"mode": "intelligent" if self.intelligent else "immediate",
               "state": self.state}
        if self.work is not None:
            self.work.describe(out)
        return out
