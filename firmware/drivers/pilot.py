"""Control-pilot generator and sensor: 1 kHz PWM out, ADC burst in.

The +-12 V generator is driven by a PWM pin; the pilot is read back through a divider on
an ADC pin. MicroPython cannot sample synchronously with the PWM edges, so each
measurement reads the ADC in a burst spanning one PWM period and keeps the highest and
the lowest value: the high and the low plateau (the method OpenEVSE uses). The burst
ends early once both plateaus have been seen a few times.
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
        if self.duty <= 0 or self.duty >= 10000:
            # Constant level: a few reads, both plateaus are that level.
            for _ in range(4):
                v = read()
                if v > hi:
                    hi = v
                if v < lo:
                    lo = v
            if self.duty <= 0:
                hi = lo
            else:
                lo = hi
        else:
            mid = self._mid
            n_hi = 0
            n_lo = 0
            t0 = ticks_us()
            while ticks_diff(ticks_us(), t0) < self._burst_us:
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
            if n_hi == 0:
                hi = lo  # stuck low (shorted or pulled down): report what we saw
            if n_lo == 0:
                lo = hi
        z = self._zero
        self.high_mv = (hi - z) * self._num // self._den
        self.low_mv = (lo - z) * self._num // self._den
