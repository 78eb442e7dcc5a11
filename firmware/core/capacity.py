"""Capacity-tariff mode: keep the grid import's rolling 15-minute average under a
configured power, using the domestic meter (docs/planning.md).

The import is integrated per minute into a ring of 16 buckets (watt-seconds: the
current minute, 14 full ones and the one leaving the window). The grid is steered to a
target MARGIN_PCT below the limit: the meter is read every few seconds, so a step in the
house's load is seen only at the next reading, and the car's draw until then is import
nobody planned; the margin absorbs several such steps within one window. For the next
minute the grid may import what keeps the average over the 15 minutes ending a minute
from now at the target, and never more than the target itself: the window rolls, so
import lent from quiet minutes would come due when they leave it, perhaps while the
house alone is near the limit and pausing the car no longer helps. The car gets that
less the house's own load. History the box has not seen (after a start, or a gap in the
readings) counts as imported at the target: no minute after it imports more, so the
window stays under the limit whenever the unseen past did. Export counts as zero import.

Pure; time comes as ticks_ms. `update` allocates nothing.
"""
from array import array

from micropython import const

from firmware.core.ticks import ticks_diff

_BUCKETS = const(16)
_MINUTE_MS = const(60000)
MIN_DA = const(60)
MARGIN_PCT = const(3)


class Capacity:
    def __init__(self, limit_w, now):
        self.limit_w = limit_w
        self.target_w = limit_w - limit_w * MARGIN_PCT // 100
        self.ws = array("l", [0] * _BUCKETS)
        self.cur = 0  # bucket of the current minute
        self.in_minute_ms = 0
        self._forget()
        self.last = now
        self.prev_w = limit_w  # the previous reading's import
        self.allowed_w = limit_w  # the grid's import allowed for the next minute
        self.average_w = limit_w  # the rolling average over the last 15 minutes

    def _forget(self):
        """History the box has not seen counts as imported at the target."""
        for i in range(_BUCKETS):
            self.ws[i] = self.target_w * 60
        self.ws[self.cur] = self.target_w * self.in_minute_ms // 1000

    def _advance(self, ms, grid_w):
        ws = self.ws
        while ms > 0:
            step = _MINUTE_MS - self.in_minute_ms
            if step > ms:
                step = ms
            ws[self.cur] += grid_w * (step // 10) // 100  # small ints on the boards
            self.in_minute_ms += step
            ms -= step
            if self.in_minute_ms >= _MINUTE_MS:
                self.in_minute_ms = 0
                self.cur = (self.cur + 1) % _BUCKETS
                ws[self.cur] = 0

    def update(self, grid_w, car_w, unit_w, max_da, now):
        """One meter reading: the grid's import (W, negative: export) and the car's own
        power since the previous reading. Returns the car's claim (0.1 A; 0 below the
        pilot's minimum: pause). unit_w is W per A (volts x phases)."""
        ms = ticks_diff(now, self.last)
        self.last = now
        if grid_w < 0:
            grid_w = 0
        if ms < 0 or ms >= 15 * _MINUTE_MS:  # a gap: history unknown
            self._forget()
            ms = 0
        # between two readings the import was somewhere between them: count the larger
        self._advance(ms, grid_w if grid_w > self.prev_w else self.prev_w)
        self.prev_w = grid_w
        ws = self.ws
        cur = self.cur
        left = _MINUTE_MS - self.in_minute_ms  # of the current minute
        recent = 0  # the current minute so far and the 13 full ones before it
        for k in range(14):
            recent += ws[(cur - k) % _BUCKETS]
        before14 = ws[(cur - 14) % _BUCKETS]
        before15 = ws[(cur - 15) % _BUCKETS]
        # the buckets that leave the windows are taken as evenly spread over their minute
        last15 = recent + before14 + before15 * left // _MINUTE_MS
        last14 = recent + before14 * left // _MINUTE_MS
        self.average_w = last15 // 900
        # importing `allowed` for a minute puts the 15 minutes then ending at the target
        allowed = (self.target_w * 900 - last14) // 60
        if allowed > self.target_w:
            allowed = self.target_w
        self.allowed_w = allowed if allowed > 0 else 0
        house = grid_w - car_w
        if house < 0:
            house = 0
        da = (self.allowed_w - house) * 10 // unit_w
        if da > max_da:
            da = max_da
        return da if da >= MIN_DA else 0
