"""6 mA DC residual-current detector (RDC-DD, IEC 62955): trip input, test output.

The trip line raises a hard interrupt that opens the relay coil at once, without waiting
for any task or for the control tick, and latches the trip for the tick to see. The
detector should also break the coil in hardware; this is the firmware's second path.
"""
from machine import Pin


class ResidualCurrentDetector:
    def __init__(self, trip, test, coil, trip_active_high=True):
        self._trip = trip
        self._test = test
        self._coil = coil
        self._active = 1 if trip_active_high else 0
        self.latched = False
        test.value(0)
        trip.irq(handler=self._on_trip,
                 trigger=Pin.IRQ_RISING if trip_active_high else Pin.IRQ_FALLING, hard=True)

    def _on_trip(self, _pin):
        # Hard IRQ: no allocation, no printing. Opens the relay coil directly.
        self._coil.value(0)
        self.latched = True

    def tripped(self):
        """Trip line active now or since the last call (then the latch is cleared)."""
        t = self.latched or self._trip.value() == self._active
        self.latched = False
        return t

    def set_test(self, on):
        self._test.value(1 if on else 0)

    def deinit(self):
        self._trip.irq(handler=None)
