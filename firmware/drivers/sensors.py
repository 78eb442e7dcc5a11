"""Slow analog inputs (temperature, mains voltage, phase currents) read round-robin.

One ADC read per control tick keeps the tick short and constant; each channel is
refreshed every len(channels) ticks, which is plenty for quantities that change over
seconds. Raw values land in a preallocated list; conversion is the core's job.
"""


class RoundRobinADC:
    def __init__(self, adcs):
        """`adcs`: list of machine.ADC objects (None for an absent channel)."""
        self._reads = [a.read_u16 if a is not None else None for a in adcs]
        self.raw = [0] * len(adcs)
        self._i = 0

    def step(self):
        """Read the next channel; returns its index (its raw value is fresh)."""
        i = self._i
        r = self._reads[i]
        if r is not None:
            self.raw[i] = r()
        self._i = i + 1 if i + 1 < len(self._reads) else 0
        return i
