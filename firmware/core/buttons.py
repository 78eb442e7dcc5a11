"""Button timing: debounce and the service button's hold thresholds.

The service button: ~2 s gives the first tone (release then: restart); ~6 s gives the
second tone (release then: delete all cards, then restart). The touch button reports
short presses.
"""
from micropython import const

from firmware.core.ticks import ticks_diff

NOTHING = const(0)
PRESSED = const(1)  # debounced press
FIRST_TONE = const(2)  # held past the first threshold
SECOND_TONE = const(3)  # held past the second threshold
RELEASED_SHORT = const(4)  # released before the first threshold
RELEASED_FIRST = const(5)  # released between the thresholds
RELEASED_SECOND = const(6)  # released after the second threshold

_DEBOUNCE_MS = const(30)


class HoldButton:
    def __init__(self, now, first_ms=2000, second_ms=6000):
        self.first_ms = first_ms
        self.second_ms = second_ms
        self.down = False
        self._raw = False
        self._raw_at = now
        self._down_at = now
        self._stage = 0  # 0 = none, 1 = first tone given, 2 = second tone given

    def update(self, pressed, now):
        """Feed the raw input level; returns one event."""
        if pressed != self._raw:
            self._raw = pressed
            self._raw_at = now
        if pressed != self.down and ticks_diff(now, self._raw_at) >= _DEBOUNCE_MS:
            self.down = pressed
            if pressed:
                self._down_at = now
                self._stage = 0
                return PRESSED
            stage = self._stage
            self._stage = 0
            return RELEASED_SECOND if stage == 2 else RELEASED_FIRST if stage == 1 \
                else RELEASED_SHORT
        if self.down:
            held = ticks_diff(now, self._down_at)
            if self._stage == 0 and held >= self.first_ms:
                self._stage = 1
                return FIRST_TONE
            if self._stage == 1 and held >= self.second_ms:
                self._stage = 2
                return SECOND_TONE
        return NOTHING
