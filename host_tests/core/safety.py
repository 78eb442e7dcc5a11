"""Safety invariants of the charging core, checked after every control tick of a walk of
random events. Shared by the seeded walk (both runtimes) and the hypothesis walk (CPython).
"""
from firmware.core import charger as ch
from firmware.core import faults, limits
from firmware.core import pilot as cp
from firmware.core.pilot import DUTY_F, DUTY_OFF, da_from_duty
from rig import TICK_MS, Rig

# Events: (name, number of values, weight). Most steps are ordinary use; faults that
# latch for good (earth, weld) are rare, and `heal` ends every disturbance now and then.
EVENTS = (("heal", 1, 5), ("car", 6, 8), ("wait", 12, 10), ("limit", 10, 3), ("auth", 4, 1),
          ("diode", 6, 1),
          ("leak", 6, 1), ("rcd_bad", 6, 1), ("temp", 10, 2), ("mains", 8, 2), ("pe", 24, 1),
          ("weld", 24, 1), ("dead", 6, 1), ("showroom", 6, 1), ("service", 6, 1),
          ("halted", 4, 1), ("overdraw", 6, 2))
PICK = tuple(e for e in EVENTS for _ in range(e[2]))
CARS = ("A", "B", "C", "D", "E", "C")
TEMPS = (200, 400, 550, 600, 650, 700, 740, 760, 800, 250)
MAINS = (2300, 2300, 1500, 1650, 2750, 2850, 0, 2400)
LIMITS = (None, 0, 50, 59, 60, 100, 160, 250, 320, 500)
WAITS = (5, 10, 20, 50, 100, 300, 1000, 2500, 5000, 7000, 12000, 31000)

# How many ticks the relay may stay closed once a reason to open has appeared.
HARD_TICKS = 1  # residual current, earth, heat, crash: in the same tick
PILOT_TICKS = 3  # the pilot left C/D: two confirming samples, then the step
DIODE_TICKS = 5


class SafetyWalk:
    def __init__(self, ventilation=False):
        self.vent = ventilation
        self.closures = 0  # relay closings over the whole walk
        self.power_cycles = 0
        self._new_rig()

    def _new_rig(self):
        self.r = Rig(ventilation=self.vent, retry_delay_ms=3000, selftest_ms=2000)
        self.limit_hist = []  # (tick, limit) whenever the arbiter's limit changed
        self.since = {}  # reason -> tick it appeared (while the relay was closed)
        self.fault_f_ticks = None  # ticks of state F since the last fault was raised
        self.last_fault_ev = 0

    def power_cycle(self):
        """An electrician repairs the permanent fault and restores power: a new core."""
        self.power_cycles += 1
        self._new_rig()

    # ------------------------------------------------------------------ events
    def apply(self, name, v):
        r = self.r
        c = r.c
        if name == "heal":  # every disturbance goes away (the car stays as it is)
            r.diode = r.rcd_healthy = r.pe_ok = c.authorized = True
            r.leak = r.welded = r.relay_dead = False
            c.showroom = c.service_mode = c.halted = False
            r.temp_dc = 250
            r.mains_dv = 2300
            r.overdraw_da = 0
        elif name == "car":
            r.car = CARS[v]
        elif name == "diode":
            r.diode = v != 0
        elif name == "leak":
            r.leak = v == 0
        elif name == "rcd_bad":
            r.rcd_healthy = v != 0
        elif name == "temp":
            r.temp_dc = TEMPS[v]
        elif name == "mains":
            r.mains_dv = MAINS[v]
        elif name == "pe":
            r.pe_ok = v != 0
        elif name == "weld":
            r.welded = v == 0
        elif name == "dead":
            r.relay_dead = v == 0
        elif name == "limit":
            r.arbiter.set(limits.LOAD, LIMITS[v])
        elif name == "auth":
            c.authorized = v != 0
        elif name == "showroom":
            c.showroom = v == 0
        elif name == "service":
            c.service_mode = v == 0
        elif name == "halted":
            c.halted = v == 0
        elif name == "overdraw":
            r.overdraw_da = (0, 0, 10, 30, 50, 200)[v]
        elif name == "wait":
            self.wait(WAITS[v])

    def wait(self, ms):
        for _ in range(max(1, ms // TICK_MS)):
            was = self.r.c.relay
            self.r.tick()
            if self.r.c.relay and not was:
                self.closures += 1
            self.check()
        if self.r.c.phase == ch.PERMANENT and self.r.c.phase_ms(self.r.now) > 10000:
            self.power_cycle()

    # -------------------------------------------------------------- invariants
    def _reason(self, key, present, budget):
        """Fail if `present` has held while the relay stayed closed for over `budget` ticks."""
        r = self.r
        if present and r.c.relay:
            first = self.since.setdefault(key, r.ticks)
            assert r.ticks - first <= budget, "%s: relay still closed after %d ticks" % (
                key, r.ticks - first)
        else:
            self.since.pop(key, None)

    def check(self):
        r = self.r
        c = r.c
        lim = r.arbiter.limit
        if not self.limit_hist or self.limit_hist[-1][1] != lim:
            self.limit_hist.append((r.ticks, lim))
        # 1. The relay closes only when every condition holds.
        if c.relay:
            s = r.pilot.state
            assert s == cp.C or (s == cp.D and self.vent), "relay closed in pilot %s" % s
            assert c.fault == faults.NONE, "relay closed with fault %d" % c.fault
            assert c.phase in (ch.CHARGING, ch.SUSPENDED), "relay closed in phase %d" % c.phase
            assert c.selftest_ok, "relay closed without a passed self-test"
            assert c.pe_ok and not c.rcd_trip
        # 2. ... and opens within the budget when any of them fails.
        car_charging = r.car == "C" or (r.car == "D" and self.vent)
        self._reason("pilot", not car_charging, PILOT_TICKS)
        self._reason("diode", not r.diode and r.car != "A", DIODE_TICKS + PILOT_TICKS)
        self._reason("leak", r.leak, HARD_TICKS)
        self._reason("earth", not r.pe_ok, HARD_TICKS)
        self._reason("heat", r.temp_dc >= r.cfg.temp_stop_dc, HARD_TICKS)
        self._reason("halted", c.halted, HARD_TICKS)
        soft = (not c.authorized or c.showroom or c.service_mode or lim < 60)
        self._reason("stop", soft, r.cfg.suspend_open_ms // TICK_MS + 1)
        self._reason("mains", not (r.cfg.mains_min_dv <= r.mains_dv <= r.cfg.mains_max_dv),
                     r.cfg.mains_hold_ms // TICK_MS + 1)
        # 3. Never a duty below 6 A; never above the highest limit of the last interval.
        if c.duty not in (DUTY_OFF, DUTY_F):
            offered = da_from_duty(c.duty)
            assert offered >= 60, "duty %d offers under 6 A" % c.duty
            window = r.cfg.duty_interval_ms // TICK_MS + 1
            recent = [lv for t, lv in self.limit_hist if r.ticks - t <= window]
            older = [lv for t, lv in self.limit_hist if r.ticks - t > window]
            ceiling = max(recent + older[-1:])
            assert offered <= ceiling, "offered %d over the limit %d" % (offered, ceiling)
        # 4. State F for at least 300 ms after every fault.
        if c.ev_head != self.last_fault_ev:
            for i in range(self.last_fault_ev, c.ev_head):
                if c.ev_kind[i % len(c.ev_kind)] == ch.EV_FAULT:
                    self.fault_f_ticks = 0
            self.last_fault_ev = c.ev_head
        if c.phase in (ch.FAULT, ch.PERMANENT) and self.fault_f_ticks is not None:
            if c.duty == DUTY_F:
                self.fault_f_ticks += 1
            else:
                assert self.fault_f_ticks * TICK_MS >= 300, "state F held only %d ms" % (
                    self.fault_f_ticks * TICK_MS)
                self.fault_f_ticks = None
        if self.fault_f_ticks is not None and c.phase not in (ch.FAULT, ch.PERMANENT):
            self.fault_f_ticks = None
