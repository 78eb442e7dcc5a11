"""Service and touch buttons: timing from core/buttons.py, actions wired by the app."""
import asyncio
from time import ticks_ms

from firmware.core import buttons as btn
from firmware.core import tones


class Buttons:
    def __init__(self, service_input, touch_input, indicators, restart):
        self._service = service_input
        self._touch = touch_input
        self._ind = indicators
        self._restart = restart  # callable(reason): opens the relay, logs, resets
        now = ticks_ms()
        self.service = btn.HoldButton(now)
        self.touch = btn.HoldButton(now)
        self.on_delete_all = []  # callables run after the ~6 s hold, before the restart
        self.on_touch = []  # callables run on a touch-button press

    async def run(self, period_ms=20):
        while True:
            now = ticks_ms()
            if self._service is not None:
                self._service_event(self.service.update(self._service.active(), now))
            if self._touch is not None and \
                    self.touch.update(self._touch.active(), now) == btn.PRESSED:
                for cb in self.on_touch:
                    cb()
            await asyncio.sleep_ms(period_ms)

    def _service_event(self, ev):
        if ev == btn.FIRST_TONE:
            self._ind.sound(tones.BEEP)
        elif ev == btn.SECOND_TONE:
            self._ind.sound(tones.SECOND_BEEP)
        elif ev == btn.RELEASED_FIRST:
            self._restart("service button")
        elif ev == btn.RELEASED_SECOND:
            for cb in self.on_delete_all:
                cb()
            self._restart("service button: all cards deleted")
