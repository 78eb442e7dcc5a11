"""The control pilot (IEC 61851-1 Annex A, SAE J1772): duty cycle <-> offered current,
and classification of the measured plateau voltages into states A..F.

Units: current in 0.1 A ("dA"), duty in 0.01 % ("bp", 10000 = 100 %), voltage in mV.
Integers only, so the control tick never allocates a float.

The driver measures the high and the low plateau; the classifier turns them into A..F
with hysteresis between the bands and a short debounce, and checks the vehicle's diode
on the low plateau. Leaving C/D and reaching A are confirmed after fewer samples than
other changes, so the relay opens quickly on unplug.
"""
from micropython import const

DUTY_OFF = const(10000)  # constant +12 V (x1): no current offered
DUTY_F = const(0)  # constant -12 V: state F, EVSE not available
_MIN_DA = const(60)  # below 6 A nothing is ever encoded
_MAX_DA = const(800)
_LOW_TOP_DA = const(510)  # 51 A: top of the 0.6 A/% range
_GAP_TOP_DA = const(525)  # 51..52.5 A cannot be encoded: clamp to 51 A


def duty_from_da(da):
    """Duty to offer `da`; DUTY_OFF below 6 A. Rounds down so the car never gets more."""
    if da < _MIN_DA:
        return DUTY_OFF
    if da <= _LOW_TOP_DA:
        return da * 50 // 3  # D = I / 0.6
    if da <= _GAP_TOP_DA:
        return 8500
    if da > _MAX_DA:
        da = _MAX_DA
    return da * 4 + 6400  # D = I / 2.5 + 64


def da_from_duty(bp):
    """Current offered by duty `bp` to the nearest 0.1 A; 0 where it offers no AC current."""
    if bp < 800 or bp > 9700:
        return 0  # < 8 %: none, digital communication or E/F; > 97 %: none
    if bp < 1000:
        return _MIN_DA
    if bp <= 8500:
        return (bp * 3 + 25) // 50  # nearest 0.1 A of D * 0.6
    if bp <= 9600:
        return (bp - 6400 + 2) // 4  # nearest 0.1 A of (D - 64) * 2.5
    return _MAX_DA



_UNKNOWN = const(0)
A = const(1)  # +12 V, no vehicle
B = const(2)  # +9 V, vehicle connected
C = const(3)  # +6 V, ready to charge
D = const(4)  # +3 V, ready, needs ventilation
E = const(5)  # 0 V, pilot shorted / EVSE unpowered
F = const(6)  # negative high plateau: pilot pulled down
INVALID = const(7)  # outside every band
NAMES = "?ABCDEFX"  # NAMES[state]; X = invalid

# Lower edge (mV) of each band, index = state; A's upper edge is _TOP.
_LOW_EDGE = const((0, 10500, 7500, 4500, 1500, -1500, -13500, 0))
_TOP = const(13500)
_DIODE_MAX_MV = const(-10000)  # low plateau above this with PWM on: no diode


def present(state, before):
    """Whether a vehicle is plugged in: yes in B..D, no in A. E, F, an invalid level or
    nothing classified yet say nothing about the plug (a fault drives the pilot to -12 V
    and the first readings after it still show that), so `before`, the last answer, holds."""
    if state == A:
        return False
    if B <= state <= D:
        return True
    return before


def band(mv):
    """Nominal band of a high-plateau voltage, without hysteresis."""
    if mv > _TOP:
        return INVALID
    for s in range(A, INVALID):
        if mv >= _LOW_EDGE[s]:
            return s
    return INVALID


class PilotClassifier:
    """Debounced pilot state. `update()` once per control tick; no allocation."""

    def __init__(self, hysteresis_mv=300, confirm_fast=2, confirm=4):
        self.hyst = hysteresis_mv
        self.confirm_fast = confirm_fast
        self.confirm = confirm
        self.state = _UNKNOWN
        self.diode_ok = True
        self.vehicle = False  # present(): the one definition of "a vehicle is plugged in"
        self.high_mv = 0
        self.low_mv = 0
        self._cand = _UNKNOWN
        self._count = 0
        self._diode_bad = 0

    def confirming(self):
        """True while a new state is seen but not yet confirmed (the debounce counts):
        the pilot is changing. A method on ints only: it allocates nothing in the tick."""
        return self._count != 0

    def _level(self, mv):
        s = self.state
        if A <= s <= F:  # stay while within the current band widened by the hysteresis
            hi = _TOP if s == A else _LOW_EDGE[s - 1]
            if _LOW_EDGE[s] - self.hyst <= mv < hi + self.hyst:
                return s
        return band(mv)

    def update(self, high_mv, low_mv, duty, high_ok=True, low_ok=True):
        """Classify one measurement taken while the generator ran at `duty` (0.01 %).
        `high_ok`/`low_ok` False: the sampling was interrupted before it saw that plateau
        (the driver's flags), so the value given for it is no evidence: the state is
        judged on the high plateau only, the diode on the low one only, and the debounce
        counts carry on past a burst that says nothing about them."""
        self.high_mv = high_mv
        self.low_mv = low_mv
        if duty <= 0:
            return self.state  # we drive -12 V (state F) ourselves: nothing to see
        pwm_on = duty < 10000
        lvl = self._level(high_mv) if high_ok else self.state  # unseen: nothing new
        cur = self.state
        if lvl == cur:
            if high_ok:
                self._count = 0
        else:
            if lvl == self._cand:
                self._count += 1
            else:
                self._cand = lvl
                self._count = 1
            fast = lvl == A or cur == C or cur == D or cur == _UNKNOWN
            if self._count >= (self.confirm_fast if fast else self.confirm):
                self.state = lvl
                self._count = 0
                self.vehicle = present(lvl, self.vehicle)
        # Diode check: with PWM running and a vehicle present the low plateau must sit
        # near -12 V; a mirror of the high plateau means a resistive (impermissible) load.
        if not low_ok:
            pass  # unseen: the count carries on
        elif pwm_on and B <= self.state <= D:
            if low_mv > _DIODE_MAX_MV:
                self._diode_bad += 1
                if self._diode_bad >= self.confirm:
                    self.diode_ok = False
            else:
                self._diode_bad = 0
                self.diode_ok = True
        else:
            self._diode_bad = 0
            self.diode_ok = True
        return self.state
