"""Integer conversions of raw ADC readings (0..65535) and cheap smoothing.

Keep every intermediate below 2**30: above that MicroPython allocates a big int on the
32-bit boards, which the 64-bit VM would not reveal.
"""


def scale(raw, zero, num, den):
    """(raw - zero) * num / den, floored. |raw - zero| <= 65535, so num <= 16000 is safe."""
    return (raw - zero) * num // den


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


def dip_from_bits(b0, b1, b2, b3):
    """DIP code 0..15 from four switch levels (True = on), b0 the least significant."""
    return (1 if b0 else 0) | (2 if b1 else 0) | (4 if b2 else 0) | (8 if b3 else 0)


def dip_from_ladder(raw, top=65535):
    """DIP code 0..15 from a binary-weighted resistor ladder read on one ADC pin.

    The ladder gives code * top / 15 at the pin; the nearest step wins, so each step
    has +-1/30 of the range as margin against resistor tolerance.
    """
    code = (raw * 15 + top // 2) // top
    return 0 if code < 0 else 15 if code > 15 else code
