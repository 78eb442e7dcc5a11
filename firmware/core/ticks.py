"""Millisecond tick arithmetic that survives the wrap.

On MicroPython the native functions are used, so the period always matches the clock
that produced the ticks. On CPython (host tests) the boards' 2**30 ms period is modelled,
so the wrap after ~12.4 days is exercised on the host too.
"""
try:
    from time import ticks_add, ticks_diff  # noqa: F401  (MicroPython)
except ImportError:
    PERIOD = 1 << 30
    _HALF = PERIOD >> 1
    _MASK = PERIOD - 1

    def ticks_add(t, delta):
        return (t + delta) & _MASK

    def ticks_diff(a, b):
        """Signed a - b, correct across one wrap."""
        return ((a - b + _HALF) & _MASK) - _HALF
