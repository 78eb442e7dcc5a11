"""Domestic connection monitoring and solar surplus charging, as pure logic.

The services feed decoded meter readings (core/meters.py) and the time; this module
says what the arbiter's LOAD, METER_FALLBACK and SOLAR claims are. Currents in 0.1 A.

The fuse rule: on every phase the house's own load plus what the car is offered stays
within the fuse. Decreases apply at once, except those within a dead band of 0.2 A (the
resolution of the two readings it comes from: each change of the offer blocks the next
for 5 s, so noise must not move it, nor let a bias creep it down); increases wait until
the headroom has stayed at least 1 A above the claim for `rise_ms`, then rise to the
lowest headroom seen in that time (so a brief dip in the house load is never given away
twice). Below 6 A the claim is 0 (the session is suspended); it resumes only after the
headroom has stayed at 7 A or more for `resume_ms`. The charging core adds its own limit
of one duty change per 5 s towards the car.
"""
from micropython import const

from firmware.core.limits import NO_LIMIT
from firmware.core.meters import EE, I1, P1, PT, V1
from firmware.core.ticks import ticks_diff

MIN_DA = const(60)  # the smallest current a car may be offered
FALLBACK_DA = const(100)  # the manual's 10 A while the meter is lost (at most)
_HYST_DA = const(10)
DEAD_BAND_DA = const(2)  # a lower headroom by this much or less leaves the claim alone
_RESUME_DA = const(70)
_SETTLE_DA = const(10)  # the car's draw moved more than this during a reading: unsettled
_UNSETTLED_MAX = const(3)  # unsettled readings skipped in a row, at most
_NOMINAL_DV = const(2300)

# charging modes (setting charging.mode, in this order)
MODES = ("immediate", "solar", "min+solar")
IMMEDIATE = const(0)
SOLAR = const(1)
MIN_SOLAR = const(2)


def plausible(v):
    """0 if the reading may be used, else 1 + the index of the first impossible field.

    The meter shares the charger's supply, so a meter that has voltages shows at least
    100 V on one phase: all zeros mean the registers hold something else (wrong model).
    """
    top = -1
    for k in range(I1):
        if v[k] is not None and v[k] > top:
            top = v[k]
    if 0 <= top < 1000:
        return V1 + 1
    for k in range(EE + 1):
        x = v[k]
        if x is None:
            continue
        if k < I1:
            bad = x < 0 or x > 3000  # above 300 V phase to neutral: not a house supply
        elif k < P1:
            bad = x < 0 or x > 10000  # currents are magnitudes; 1000 A is no house
        elif k < PT:
            bad = x > 300000 or x < -300000
        elif k == PT:
            bad = x > 1000000 or x < -1000000
        else:
            bad = x < 0  # energy counters
        if not bad and P1 <= k < PT and v[k - 6] is not None and v[k - 3] is not None:
            # |P| <= U * I (plus slack for readings taken a moment apart)
            bad = abs(x) > v[k - 6] * v[k - 3] // 80 + 200
        if bad:
            return k + 1
    return 0


def settled(prev, car0, car1):
    """Whether the car's draw held still (within 1 A) from the previous poll (`prev`)
    through this one (`car0` before, `car1` after), so that the meter and the charger saw
    the same car. Leaves the smallest of the three in car0, per phase: a smaller draw
    overstates the house's load, the safe side."""
    still = True
    for p in range(3):
        a = car0[p]
        for b in (prev[p], car1[p]):
            if a - b > _SETTLE_DA or b - a > _SETTLE_DA:
                still = False
            if b < a:
                a = b
        car0[p] = a
    return still


def headroom(fuse_da, v, car):
    """What the car may be offered per phase so that no phase exceeds the fuse.

    `v`: a plausible reading; `car`: the car's own current per phase (0.1 A), taken out
    of the meter's figure. Phases without a current reading are skipped. A phase's
    direction comes from its power; without one the current counts as import, which
    can only overstate the house's load.
    """
    worst = -NO_LIMIT
    for p in range(3):
        i = v[I1 + p]
        if i is None:
            continue
        w = v[P1 + p]
        if w is not None and w < 0:
            i = -i  # exporting on this phase
        c = car[p]
        i -= c if c > 0 else 0
        if i > worst:
            worst = i
    if worst == -NO_LIMIT:
        return 0
    room = fuse_da - worst
    return room if room > 0 else 0


def surplus(grid, car, phases, solar_w):
    """Current per phase (0.1 A) the car could take from exported power, None if unknown.

    With a grid meter: what the car draws now plus what still goes out (-total power).
    With only a solar meter: its production (the house's own use is not known).
    """
    if grid is not None and grid[PT] is not None:
        dv = 0
        n = 0
        car_w = 0
        for p in range(3):
            u = grid[V1 + p]
            if u is not None and u > 0:
                dv += u
                n += 1
            c = car[p]
            if c > 0:
                car_w += c * (u if u is not None and u > 0 else _NOMINAL_DV) // 100
        dv = dv // n if n else _NOMINAL_DV
        w = car_w - grid[PT]
    elif solar_w is not None:
        dv = _NOMINAL_DV
        w = solar_w if solar_w > 0 else -solar_w
    else:
        return None
    return w * 100 // (dv * phases)


class Load:
    """The LOAD claim and the meter-lost state of the domestic connection meter."""

    def __init__(self, now, lost_ms=10000, rise_ms=5000, resume_ms=30000):
        self.lost_ms = lost_ms
        self.rise_ms = rise_ms
        self.resume_ms = resume_ms
        self.claim = FALLBACK_DA  # until the first reading: as if lost, without the alarm
        self.lost = False
        self.paused = False
        self._seen = now  # last valid reading (or the start)
        self._fresh = True  # the next reading starts over
        self._low = -1  # lowest headroom since _since while waiting to rise/resume
        self._since = now
        self._unsettled = 0

    def feed(self, now, room, still=True):
        """A valid reading; `room` = headroom() of it, `still`: settled() of the car.

        A reading taken while the car's draw changed mixes two cars: it is skipped (the
        meter is not lost for that), but never more than a few times in a row. The first
        reading too: taken while the car starts drawing, it would count the car's new
        draw as the house's and pause it for resume_ms, on a house that leaves room.
        """
        self._seen = now
        if not still and self._unsettled < _UNSETTLED_MAX:
            self._unsettled += 1
            return
        self._unsettled = 0
        if self._fresh or self.lost:
            self._fresh = self.lost = False
            self.paused = room < MIN_DA
            self.claim = 0 if self.paused else room
            self._low = -1
            return
        if self.paused:
            need = _RESUME_DA
            wait = self.resume_ms
        elif room < self.claim - DEAD_BAND_DA:
            self._low = -1
            self.paused = room < MIN_DA
            self.claim = 0 if self.paused else room
            return
        else:
            need = self.claim + _HYST_DA
            wait = self.rise_ms
        if room < need:
            self._low = -1
            return
        if self._low < 0:
            self._low = room
            self._since = now
        elif room < self._low:
            self._low = room
        if ticks_diff(now, self._since) >= wait:
            self.claim = self._low
            self.paused = False
            self._low = -1

    def step(self, now):
        """Call regularly; True while the meter is lost (no valid reading for lost_ms).
        Lost, the claim is the fallback: 10 A, or the claim before if that was lower (the
        house's load is unknown, not gone: never raise the current for it)."""
        if not self.lost and ticks_diff(now, self._seen) >= self.lost_ms:
            self.lost = True
            if self.claim > FALLBACK_DA:
                self.claim = FALLBACK_DA
        return self.lost


class Solar:
    """The SOLAR claim: start when the surplus has covered 6 A for start_ms, follow it,
    stop when it has been below 6 A for stop_ms. min+solar never stops below 6 A."""

    def __init__(self, now):
        self.running = False
        self.avg = -1  # smoothed surplus, 0.1 A
        self._enough = False
        self._since = now

    def update(self, now, mode, surplus_da, start_ms, stop_ms):
        if mode == IMMEDIATE:
            self.running = False
            self.avg = -1
            return NO_LIMIT
        x = surplus_da if surplus_da is not None and surplus_da > 0 else 0
        self.avg = x if self.avg < 0 else (3 * self.avg + x) // 4
        enough = self.avg >= MIN_DA
        if enough != self._enough:
            self._enough = enough
            self._since = now
        held = ticks_diff(now, self._since)
        if mode != SOLAR:
            self.running = True
        elif not self.running and enough and held >= start_ms:
            self.running = True
        elif self.running and not enough and held >= stop_ms:
            self.running = False
        if not self.running:
            return 0
        return self.avg if self.avg > MIN_DA else MIN_DA
