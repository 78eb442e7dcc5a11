"""Temperature: NTC conversion and the derating limit, in integers (0.1 degC)."""
import math

from micropython import const

NO_READING = const(-2730)  # below absolute zero: no sensor / open circuit


def ntc_table(beta, r25, r_pullup, t_min_c=-40, t_max_c=150, step_c=5):
    """ADC ratio (0..65535, NTC to ground under a pull-up) for each `step_c` degrees.

    Built once at start-up (floats are fine there); `ntc_dc` then only uses integers.
    """
    rows = []
    for t in range(t_min_c, t_max_c + 1, step_c):
        r = r25 * math.exp(beta * (1 / (t + 273.15) - 1 / 298.15))
        rows.append(int(65535 * r / (r + r_pullup)))
    return tuple(rows), t_min_c * 10, step_c * 10


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
