"""Control-pilot duty cycle <-> offered current (IEC 61851-1 Annex A, SAE J1772).

Units: current in 0.1 A ("dA"), duty in 0.01 % ("bp", 10000 = 100 %). Integers only, so
the control tick never allocates a float.
"""
from micropython import const

DUTY_OFF = const(10000)  # constant +12 V (x1): no current offered
DUTY_F = const(0)  # constant -12 V: state F, EVSE not available
MIN_DA = const(60)  # below 6 A nothing is ever encoded
MAX_DA = const(800)
_LOW_TOP_DA = const(510)  # 51 A: top of the 0.6 A/% range
_GAP_TOP_DA = const(525)  # 51..52.5 A cannot be encoded: clamp to 51 A


def duty_from_da(da):
    """Duty to offer `da`; DUTY_OFF below 6 A. Rounds down so the car never gets more."""
    if da < MIN_DA:
        return DUTY_OFF
    if da <= _LOW_TOP_DA:
        return da * 50 // 3  # D = I / 0.6
    if da <= _GAP_TOP_DA:
        return 8500
    if da > MAX_DA:
        da = MAX_DA
    return da * 4 + 6400  # D = I / 2.5 + 64


def da_from_duty(bp):
    """Current offered by duty `bp` to the nearest 0.1 A; 0 where it offers no AC current."""
    if bp < 800 or bp > 9700:
        return 0  # < 8 %: none, digital communication or E/F; > 97 %: none
    if bp < 1000:
        return MIN_DA
    if bp <= 8500:
        return (bp * 3 + 25) // 50  # nearest 0.1 A of D * 0.6
    if bp <= 9600:
        return (bp - 6400 + 2) // 4  # nearest 0.1 A of (D - 64) * 2.5
    return MAX_DA


def is_digital(bp):
    """3..7 % (5 % nominal): the car must use digital communication (ISO 15118)."""
    return 300 <= bp <= 700
