"""Digital inputs: buttons, DIP switches, protective-earth monitor, touch button."""


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
