from firmware.core import front as b
from firmware.core.ticks import ticks_add

T0 = ticks_add(0, -3000)  # crosses the wrap during the hold


def hold(btn, ms, start):
    events = []
    t = start
    for _ in range(0, ms, 10):
        t = ticks_add(t, 10)
        ev = btn.update(True, t)
        if ev:
            events.append(ev)
    for _ in range(10):
        t = ticks_add(t, 10)
        ev = btn.update(False, t)
        if ev:
            events.append(ev)
    return events


def test_short_press():
    assert hold(b.HoldButton(T0), 300, T0) == [b.PRESSED, b.RELEASED_SHORT]


def test_restart_hold():
    assert hold(b.HoldButton(T0), 3000, T0) == [b.PRESSED, b.FIRST_TONE, b.RELEASED_FIRST]


def test_delete_all_hold():
    assert hold(b.HoldButton(T0), 7000, T0) == [b.PRESSED, b.FIRST_TONE, b.SECOND_TONE,
                                               b.RELEASED_SECOND]


def test_bounce_is_ignored():
    btn = b.HoldButton(T0)
    t = T0
    for i in range(20):  # 10 ms chatter
        t = ticks_add(t, 10)
        assert btn.update(i % 2 == 0, t) == b.NOTHING
