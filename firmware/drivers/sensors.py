"""Sensor inputs: slow analog channels read round-robin, and digital inputs (buttons,
DIP switches, protective-earth monitor, the touch button).

One ADC read per control tick keeps the tick short and constant; each channel is
refreshed every len(channels) ticks, which is plenty for quantities that change over
seconds (temperature, mains voltage, phase currents). Conversion is the core's job.
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


class DigitalInput:
    def __init__(self, pin, active_low=True):
        self._pin = pin
        self._on = 0 if active_low else 1

    def active(self):
        return self._pin.value() == self._on


class TouchInput:
    """ESP32 capacitive pad: touched when the reading falls below `threshold`."""

    def __init__(self, pad, threshold):
        self._pad = pad
        self._threshold = threshold

    def active(self):
        try:
            return self._pad.read() < self._threshold
        except ValueError:  # the pad reports an invalid reading while it settles
            return False
