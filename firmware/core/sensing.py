"""Sensor arithmetic in integers: raw ADC (0..65535) scaling, smoothing, the NTC
temperature table, thermal derating and DIP-switch decoding.

Keep every intermediate below 2**30: above that MicroPython allocates a big int on the
32-bit boards, which the 64-bit VM would not reveal.
"""
import math

from micropython import const

NO_READING = const(-2730)  # below absolute zero: no sensor / open circuit
_T_MIN_C = const(-40)  # the NTC table's range and step
_T_MAX_C = const(150)
_STEP_C = const(5)


def ntc_table(beta, r25, r_pullup):
    """ADC ratio (0..65535, NTC to ground under a pull-up) every 5 degrees, -40..150 C.

    Built once at start-up (floats are fine there); `ntc_dc` then only uses integers.
    """
    rows = []
    for t in range(_T_MIN_C, _T_MAX_C + 1, _STEP_C):
        r = r25 * math.exp(beta * (1 / (t + 273.15) - 1 / 298.15))
        rows.append(int(65535 * r / (r + r_pullup)))
    return tuple(rows), _T_MIN_C * 10, _STEP_C * 10


def ntc_dc(raw, table):
    """0.1 degC from a raw ADC reading, linear between table rows; NO_READING if open/short."""
    rows, t0, step = table
    if raw >= rows[0] or raw <= rows[-1]:  # beyond the table: open or shorted sensor
        return NO_READING
    i = 1
    while rows[i] > raw:  # ratios fall as temperature rises
        i += 1
    hi = rows[i - 1]
    lo = rows[i]
    return t0 + (i - 1) * step + (hi - raw) * step // (hi - lo)


def derate_da(temp_dc, start_dc, end_dc, max_da, min_da=60):
    """Linear derating from `max_da` at `start_dc` down to `min_da` at `end_dc`."""
    if temp_dc <= start_dc:
        return max_da
    if temp_dc >= end_dc:
        return min_da
    return max_da - (max_da - min_da) * (temp_dc - start_dc) // (end_dc - start_dc)



def scale(raw, zero, num, den):
    """(raw - zero) * num / den to the nearest unit. |raw - zero| <= 65535, so num <= 16000
    is safe. Not floored: an ADC code already stands for the step below the next one, and
    flooring again read every current 0.1 A low (the load offer crept down by it)."""
    return ((raw - zero) * num + (den >> 1)) // den


class Smoother:
    """Exponential moving average in integers: each update moves 1/2**shift of the way."""

    def __init__(self, shift=2):
        self.shift = shift
        self.value = 0
        self._acc = 0
        self._primed = False

    def update(self, x):
        if not self._primed:
            self._primed = True
            self._acc = x << self.shift
        else:
            self._acc += x - (self._acc >> self.shift)
        self.value = self._acc >> self.shift
        return self.value


def dip_from_bits(levels):
    """DIP code 0..15 from four switch levels (True = on), the first the least significant."""
    code = 0
    for i in range(4):
        if levels[i]:
            code |= 1 << i
    return code


def dip_from_ladder(raw, top=65535):
    """DIP code 0..15 from a binary-weighted resistor ladder read on one ADC pin.

    The ladder gives code * top / 15 at the pin; the nearest step wins, so each step
    has +-1/30 of the range as margin against resistor tolerance.
    """
    code = (raw * 15 + top // 2) // top
    return 0 if code < 0 else 15 if code > 15 else code
