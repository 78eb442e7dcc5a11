"""The front panel as a service: LEDs rendered at 20 Hz, queued sounds, and the service
and touch buttons (timing from core/front.py, actions wired by the app)."""
import asyncio
from time import ticks_ms

from micropython import const

from firmware.core import front

_MAX_QUEUED = const(4)


class Panel:
    def __init__(self, leds, buzzer, control, indicators, service_button, touch_button,
                 restart):
        self.leds = leds
        self.buzzer = buzzer
        self.control = control
        self.front = indicators  # core.front.Front: what the services want shown
        self.colours = bytearray(front.COUNT)
        self._queue = []
        self._wake = asyncio.Event()
        self.service_button = service_button
        self.touch_button = touch_button
        self.restart = restart  # callable(reason): opens the relay, logs, resets
        now = ticks_ms()
        self.service = front.HoldButton(now)
        self.touch = front.HoldButton(now)
        self.on_delete_all = []  # callables run after the ~6 s hold, before the restart
        self.on_touch = []  # callables run on a touch-button press

    def sound(self, sequence):
        """Queue a tone sequence (core/front.py); dropped if the queue is full."""
        if len(self._queue) < _MAX_QUEUED:
            self._queue.append(sequence)
            self._wake.set()

    async def run_leds(self, period_ms=50):
        while True:
            front.render(self.control.charger, self.front, ticks_ms(), self.colours)
            if self.leds is not None:
                self.leds.show(self.colours)
            await asyncio.sleep_ms(period_ms)

    async def run_sounds(self):
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                seq = self._queue.pop(0)
                if self.buzzer is not None:
                    await self.buzzer.play(seq)

    async def run_buttons(self, period_ms=20):
        while True:
            now = ticks_ms()
            if self.service_button is not None:
                ev = self.service.update(self.service_button.active(), now)
                if ev == front.FIRST_TONE:
                    self.sound(front.BEEP)
                elif ev == front.SECOND_TONE:
                    self.sound(front.SECOND_BEEP)
                elif ev == front.RELEASED_FIRST:
                    self.restart("service button")
                elif ev == front.RELEASED_SECOND:
                    for cb in self.on_delete_all:
                        cb()
                    self.restart("service button: all cards deleted")
            if self.touch_button is not None and \
                    self.touch.update(self.touch_button.active(), now) == front.PRESSED:
                for cb in self.on_touch:
                    cb()
            await asyncio.sleep_ms(period_ms)
