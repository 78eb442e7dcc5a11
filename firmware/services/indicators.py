"""Front LEDs and buzzer: render the core's state at 20 Hz, play queued sounds."""
import asyncio
from time import ticks_ms

from firmware.core import leds

_MAX_QUEUED = 4


class Indicators:
    def __init__(self, led_driver, buzzer, control, front):
        self._leds = led_driver
        self._buzzer = buzzer
        self._control = control
        self.front = front
        self.colours = bytearray(leds.COUNT)
        self._queue = []
        self._wake = asyncio.Event()

    def sound(self, sequence):
        """Queue a tone sequence (core/tones.py); dropped if the queue is full."""
        if len(self._queue) < _MAX_QUEUED:
            self._queue.append(sequence)
            self._wake.set()

    async def run_leds(self, period_ms=50):
        while True:
            leds.render(self._control.charger, self.front, ticks_ms(), self.colours)
            if self._leds is not None:
                self._leds.show(self.colours)
            await asyncio.sleep_ms(period_ms)

    async def run_sounds(self):
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                seq = self._queue.pop(0)
                if self._buzzer is not None:
                    await self._buzzer.play(seq)
