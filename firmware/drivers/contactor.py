"""The contactor path: the mains relay with sensing of its output side, and the 6 mA DC
residual-current detector (RDC-DD, IEC 62955) that must be able to open it at once.

The coil pin is driven active-high; boot.py has already driven it low. The sense input
(an optocoupler on the output side) tells whether voltage is present there, which is how
a welded relay (8007) or a relay that does not close (8001) is found. The detector's
trip line raises a hard interrupt that opens the coil directly, without waiting for any
task or for the control tick, and latches the trip for the tick to see. The detector
should also break the coil in hardware; this is the firmware's second path.
"""
from machine import Pin

class Relay:
    def __init__(self, coil, sense=None, sense_active_low=True):
        self._coil = coil
        self._sense = sense
        self._live = 0 if sense_active_low else 1
        self.closed = False
        coil.value(0)

    def set(self, closed):
        if closed != self.closed:
            self.closed = closed
            self._coil.value(1 if closed else 0)

    def open(self):
        """Open now, whatever the bookkeeping says (safe from any context)."""
        self._coil.value(0)
        self.closed = False

    def output_live(self):
        return self._sense is not None and self._sense.value() == self._live


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
