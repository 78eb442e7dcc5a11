"""Property-based tests (hypothesis, CPython) of duty <-> current, pilot classification
and the safety invariants over random event sequences."""
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.core.pilot import DUTY_OFF, da_from_duty, duty_from_da
from firmware.core.pilot import PilotClassifier, band
from firmware.core.ticks import PERIOD, ticks_add, ticks_diff
from safety import EVENTS, SafetyWalk


def exact_da(bp):
    """The current (0.1 A, as a fraction) the standard's formula gives for a duty."""
    from fractions import Fraction
    if bp <= 8500:
        return Fraction(bp * 3, 50)
    return Fraction(bp - 6400, 4)


@given(st.integers(min_value=-1000, max_value=5000))
def test_encoding_never_offers_more_than_asked(da):
    bp = duty_from_da(da)
    if da < 60:
        assert bp == DUTY_OFF
    else:
        assert exact_da(bp) <= min(da, 800)  # the car may draw at most what was asked
        assert da_from_duty(bp) >= min(da, 800) - 15  # only the 51..52.5 A gap loses more


@given(st.integers(min_value=1000, max_value=9600))
def test_decoding_is_the_nearest_tenth_of_an_amp(bp):
    assert abs(da_from_duty(bp) - exact_da(bp)) <= 0.5 or 8500 < bp < 8502


@given(st.integers(min_value=-15000, max_value=15000), st.integers(min_value=4, max_value=20))
def test_a_steady_level_is_classified_as_its_band(mv, n):
    p = PilotClassifier(hysteresis_mv=0)
    for _ in range(n):
        p.update(mv, -12000, 10000)
    assert p.state == band(mv)


@given(st.lists(st.integers(min_value=-14000, max_value=14000), min_size=1, max_size=60))
def test_state_changes_only_after_consistent_samples(levels):
    p = PilotClassifier(confirm_fast=2, confirm=4)
    prev = p.state
    run_state, run_len = None, 0
    for mv in levels:
        lvl = p._level(mv)
        run_len = run_len + 1 if lvl == run_state else 1
        run_state = lvl
        p.update(mv, -12000, 10000)
        if p.state != prev:
            assert p.state == run_state and run_len >= 2
            prev = p.state


@given(st.integers(min_value=0, max_value=PERIOD - 1), st.integers(min_value=-10 ** 8,
                                                                      max_value=10 ** 8))
def test_ticks_wrap(t, delta):
    assert ticks_diff(ticks_add(t, delta), t) == delta


NAMES = [e[0] for e in EVENTS]


@settings(max_examples=60)
@given(st.lists(st.tuples(st.sampled_from(range(len(EVENTS))), st.integers(0, 23)),
                min_size=10, max_size=200), st.booleans())
def test_safety_invariants_hold_for_any_event_sequence(events, ventilation):
    w = SafetyWalk(ventilation)
    w.wait(1200)
    for i, v in events:
        name, n, _ = EVENTS[i]
        w.apply(name, v % n)
        w.wait(5)
