"""A deterministic test rig for the charging core: a car, mains, sensors and time.

Pure Python that runs unchanged on CPython and in the MicroPython VM. Time advances in
control ticks; the pilot plateaus follow the car's state, the diode and the duty the
charger drives, like the real front-end would show them.
"""
from firmware.core import limits
from firmware.core.charger import Charger, ChargerConfig
from firmware.core.pilot import da_from_duty
from firmware.core.pilot import PilotClassifier
from firmware.core.ticks import ticks_add

TICK_MS = 5
HIGH_MV = {"A": 12000, "B": 9000, "C": 6000, "D": 3000, "E": 0}
NEAR_WRAP = ticks_add(0, -30000)  # 30 s before the tick counter wraps


class Rig:
    def __init__(self, start=NEAR_WRAP, install_da=320, **cfg):
        self.cfg = ChargerConfig()
        for k in cfg:
            if not hasattr(self.cfg, k):
                raise AttributeError("no such setting: " + k)
            setattr(self.cfg, k, cfg[k])
        self.arbiter = limits.Arbiter()
        self.arbiter.set(limits.INSTALLATION, install_da)
        self.pilot = PilotClassifier()
        self.now = start
        self.c = Charger(self.cfg, self.pilot, self.arbiter, start)
        self.car = "A"
        self.diode = True
        self.mains_dv = 2300
        self.temp_dc = 250
        self.leak = False
        self.rcd_healthy = True
        self.pe_ok = True
        self.welded = False
        self.relay_dead = False
        self.overdraw_da = 0
        self.draw_da = None  # None: the car draws what is offered
        self.cut = None  # cut(tick) True: that burst is interrupted and misses a plateau
        self.ticks = 0
        self.relay_log = []  # (time, closed) on every change
        self.coil_closed = False  # the relay driver: follows the core each tick (Control)

    def live(self):
        return (self.c.relay and not self.relay_dead) or self.welded

    def current(self):
        if not (self.live() and self.car in ("C", "D")):
            return 0
        base = self.c.offered_da if self.draw_da is None else self.draw_da
        return base + self.overdraw_da

    def tick(self):
        c = self.c
        self.now = ticks_add(self.now, TICK_MS)
        high = HIGH_MV[self.car]
        if self.car == "E":
            low = 0
        elif self.car == "A" or self.diode:
            low = -12000
        else:
            low = -high
        if c.duty >= 10000:
            low = high  # no PWM: only the high level is ever seen
        if self.cut is not None and 0 < c.duty < 10000 and self.cut(self.ticks):
            # an interrupted burst saw one plateau only and reports it for both (the
            # driver does), flagging the other as not measured
            if self.ticks % 2:
                self.pilot.update(low, low, c.duty, False, True)
            else:
                self.pilot.update(high, high, c.duty, True, False)
        else:
            self.pilot.update(high, low, c.duty)
        c.out_live = self.live()
        c.mains_dv = self.mains_dv
        c.temp_dc = self.temp_dc
        c.current_da = self.current()
        c.rcd_trip = self.leak or (c.rcd_test and self.rcd_healthy)
        c.pe_ok = self.pe_ok
        c.coil_open = not self.coil_closed
        before = c.relay
        c.step(self.now)
        self.coil_closed = c.relay
        if c.relay != before:
            self.relay_log.append((self.now, c.relay))
        self.ticks += 1

    def guard_opens(self):
        """The hard-IRQ guard opens the coil between two ticks, without the core."""
        self.coil_closed = False

    def run(self, ms):
        for _ in range(ms // TICK_MS):
            self.tick()
        return self

    def until(self, pred, max_ms, what="condition"):
        """Tick until pred(rig) is true; returns the ms it took; fails after max_ms."""
        for n in range(max_ms // TICK_MS + 1):
            if pred(self):
                return n * TICK_MS
            self.tick()
        raise AssertionError("%s not reached within %d ms (phase %d, fault %d)"
                             % (what, max_ms, self.c.phase, self.c.fault))

    def offered_a10(self):
        return da_from_duty(self.c.duty)

    def charge(self, car="C"):
        """Plug in, pass the self-test and reach Charging."""
        self.car = car
        self.until(lambda r: r.c.relay, 10000, "relay closed")
        return self
