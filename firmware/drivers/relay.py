"""Mains relay (contactor) with sensing of its output side.

The coil pin is driven active-high; boot.py has already driven it low. The sense input
(an optocoupler on the output side) reports whether voltage is present there, which is
how a welded relay (8007) or a relay that does not close (8001) is found.
"""


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
