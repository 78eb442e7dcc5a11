"""The front panel's outputs: the WS2812 chain (status segments and indicators) and the
piezo buzzer.

Each WS2812 write stalls the interpreter for the whole frame (the RP2040 port bit-bangs
with interrupts off), so the chain is written only when a colour changed. The buzzer
plays tone sequences (core/front.py) without blocking.
"""
import asyncio

from micropython import const

# RGB by colour id (core/faults.py): off, red, green, blue, white, orange
_RGB = const(((0, 0, 0), (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255), (255, 96, 0)))
_HALF_DUTY = const(32768)  # the buzzer's square wave


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


class Buzzer:
    def __init__(self, pwm):
        self._pwm = pwm
        self._pwm.duty_u16(0)
        self.freq = 0

    def tone(self, freq):
        self.freq = freq
        if freq:
            self._pwm.freq(freq)
            self._pwm.duty_u16(_HALF_DUTY)
        else:
            self._pwm.duty_u16(0)

    async def play(self, sequence):
        try:
            for freq, ms in sequence:
                self.tone(freq)
                await asyncio.sleep_ms(ms)
        finally:
            self.tone(0)
