"""WS2812 chain for the status segments and the indicators.

Each write stalls the interpreter for the whole frame (the RP2040 port bit-bangs with
interrupts off), so the chain is written only when a colour changed.
"""
_RGB = ((0, 0, 0), (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255), (255, 96, 0))


class StatusLeds:
    def __init__(self, np, brightness=64):
        """`np`: a neopixel.NeoPixel of at least as many LEDs as colours written."""
        self._np = np
        self._last = bytearray(len(np))
        self._last[:] = b"\xff" * len(np)  # force the first write
        self.brightness = brightness
        self.writes = 0

    def show(self, colours):
        """Write colour ids (bytearray) if any differs from what is lit."""
        if colours == self._last:
            return False
        b = self.brightness
        np = self._np
        for i in range(len(colours)):
            r, g, bl = _RGB[colours[i]]
            np[i] = (r * b // 255, g * b // 255, bl * b // 255)
        np.write()
        self._last[:] = colours
        self.writes += 1
        return True
