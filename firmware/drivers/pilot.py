"""Control-pilot generator and sensor: 1 kHz PWM out, ADC burst in.

The +-12 V generator is driven by a PWM pin; the pilot is read back through a divider on
an ADC pin. MicroPython cannot sample synchronously with the PWM edges, so each
measurement reads the ADC in a burst spanning one PWM period and keeps the highest and
the lowest value: the high and the low plateau (the method OpenEVSE uses). The burst
ends early once both plateaus have been seen a few times.

A burst that saw one plateau only is evidence of a pilot stuck at one level only if no
gap between two reads was long enough to hide the other plateau. When the sampling was
interrupted (a GC pause, an interrupt storm, a busy host under the virtual board) the
missing plateau is unknown: `high_ok` or `low_ok` is False and the classifier judges
only what was seen (the state from the high plateau, the diode from the low one). Taking
the plateau seen for both read as state F, or as a missing diode: a spurious fault 5.
"""
from time import ticks_diff, ticks_us

from micropython import const

_BURST_US = const(1100)  # a little more than one 1 kHz period
_ENOUGH = const(3)  # samples on each plateau before the burst may end early


class PilotDriver:
    def __init__(self, pwm, adc, zero_raw, mv_num, mv_den, burst_us=_BURST_US):
        """`pwm`: machine.PWM already at 1 kHz; `adc`: machine.ADC on the sense pin.

        Pilot millivolts = (raw - zero_raw) * mv_num // mv_den (the board's divider).
        """
        self._pwm = pwm
        self._read = adc.read_u16
        self._zero = zero_raw
        self._num = mv_num
        self._den = mv_den
        self._burst_us = burst_us
        self._mid = zero_raw  # raw value of 0 V: splits high from low samples
        self.duty = -1
        self.high_mv = 0
        self.low_mv = 0
        self.high_ok = True  # the last sample() measured the high plateau (module doc)
        self.low_ok = True  # ... and the low one
        self.set_duty(10000)

    def set_duty(self, bp):
        """Duty in 0.01 %: 10000 = constant +12 V, 0 = constant -12 V (state F)."""
        if bp != self.duty:
            self.duty = bp
            self._pwm.duty_u16(65535 if bp >= 10000 else bp * 65535 // 10000)

    def sample(self):
        """Measure both plateaus; results in high_mv / low_mv (ints, no allocation)."""
        read = self._read
        hi = 0
        lo = 65535
        bp = self.duty
        self.high_ok = self.low_ok = True
        if bp <= 0 or bp >= 10000:
            # Constant level: a few reads, both plateaus are that level.
            for _ in range(4):
                v = read()
                if v > hi:
                    hi = v
                if v < lo:
                    lo = v
            if bp <= 0:
                hi = lo
            else:
                lo = hi
        else:
            mid = self._mid
            n_hi = 0
            n_lo = 0
            gap = 0  # the longest time between two reads, us
            t0 = last = ticks_us()
            while True:
                v = read()
                if v > mid:
                    n_hi += 1
                    if v > hi:
                        hi = v
                else:
                    n_lo += 1
                    if v < lo:
                        lo = v
                if n_hi >= _ENOUGH and n_lo >= _ENOUGH:
                    break
                t = ticks_us()
                d = ticks_diff(t, last)
                if d > gap:
                    gap = d
                last = t
                if ticks_diff(t, t0) >= self._burst_us:
                    break
            # one plateau missing: stuck at one level, unless a gap could have hidden
            # the missing plateau (bp // 10 us high, the rest of the 1000 us low)
            if n_hi == 0:
                hi = lo  # stuck low (shorted or pulled down): report what we saw
                self.high_ok = gap < bp // 10
            if n_lo == 0:
                lo = hi
                self.low_ok = gap < (10000 - bp) // 10
        z = self._zero
        self.high_mv = (hi - z) * self._num // self._den
        self.low_mv = (lo - z) * self._num // self._den
