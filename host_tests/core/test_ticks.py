from firmware.core.ticks import ticks_add, ticks_diff


def test_diff_across_the_wrap():
    a = ticks_add(0, -10)
    b = ticks_add(a, 25)
    assert ticks_diff(b, a) == 25
    assert ticks_diff(a, b) == -25


def test_add_wraps_to_small_values():
    assert ticks_add(ticks_add(0, -1), 1) == 0


def test_diff_is_consistent_over_a_range():
    t = ticks_add(0, -5000)
    for step in range(0, 10000, 37):
        assert ticks_diff(ticks_add(t, step), t) == step
