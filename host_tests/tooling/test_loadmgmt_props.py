"""Properties of domestic connection monitoring (core/loadmgmt.py), with hypothesis.

The world: a house load per phase (negative = exporting), a car drawing some current,
a meter that sees both. While the meter is healthy, what the car is offered never lets
any measured phase exceed the fuse by more than the dead band (0.2 A, the resolution of
the two readings): house + offered <= fuse + band on every phase, at every reading the
logic acts on, and the pilot duty for that offer gives no more either.
"""
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.core import loadmgmt as lm
from firmware.core.limits import NO_LIMIT
from firmware.core.pilot import da_from_duty, duty_from_da
from firmware.core.ticks import ticks_add

T0 = ticks_add(0, -30000)  # across the tick wrap


def meter_reading(house, car, single):
    """What the meter shows: |house + car| per phase, with the direction in the power."""
    v = [2300, 2300, 2300, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    for p in range(3):
        g = house[p] + car[p]
        v[3 + p] = abs(g)
        v[6 + p] = g * 230 // 10
    v[9] = v[6] + v[7] + v[8]
    if single:
        for k in (1, 2, 4, 5, 7, 8):
            v[k] = None
        v[9] = v[6]
    return v


step = st.tuples(
    st.lists(st.integers(-400, 800), min_size=3, max_size=3),  # house per phase, 0.1 A
    st.lists(st.integers(0, 320), min_size=3, max_size=3),  # the car's draw
    st.integers(100, 4000),  # ms since the last reading
)


@settings(max_examples=300)
@given(fuse_a=st.integers(6, 100), single=st.booleans(), steps=st.lists(step, max_size=60),
       rise=st.integers(0, 10000), resume=st.integers(0, 30000))
def test_no_phase_over_the_fuse_while_the_meter_is_healthy(fuse_a, single, steps, rise,
                                                          resume):
    fuse = fuse_a * 10
    ld = lm.Load(T0, lost_ms=10000, rise_ms=rise, resume_ms=resume)
    now = T0
    for house, car, dt in steps:
        now = ticks_add(now, dt)
        v = meter_reading(house, car, single)
        ld.feed(now, lm.headroom(fuse, v, car))
        assert not ld.step(now)
        claim = ld.claim
        assert claim == 0 or claim >= lm.MIN_DA
        offered = da_from_duty(duty_from_da(claim))
        assert offered <= claim
        for p in range(1 if single else 3):
            if claim:
                assert house[p] + offered <= fuse + lm.DEAD_BAND_DA, (p, house, car, claim)


@settings(max_examples=300)
@given(fuse_a=st.integers(6, 100), house=st.lists(st.integers(-300, 600), min_size=3,
                                                  max_size=3),
       before=st.lists(st.integers(0, 320), min_size=3, max_size=3),
       after=st.lists(st.integers(0, 320), min_size=3, max_size=3),
       prev=st.lists(st.integers(0, 320), min_size=3, max_size=3),
       seen=st.floats(0, 1))
def test_a_car_changing_during_the_reading_never_makes_the_headroom_larger(
        fuse_a, house, before, after, prev, seen):
    """The meter saw the car somewhere between before and after; the least of the draws
    taken out of its figure can only overstate the house."""
    fuse = fuse_a * 10
    car_seen = [round(b + (a - b) * seen) for a, b in zip(after, before)]
    v = meter_reading(house, car_seen, False)
    low = list(before)
    lm.settled(prev, low, list(after))
    room = lm.headroom(fuse, v, low)
    assert room <= max(0, fuse - max(house))


@settings(max_examples=200)
@given(steps=st.lists(st.tuples(st.integers(-100, 400), st.integers(100, 5000)),
                      max_size=80), mode=st.sampled_from([lm.SOLAR, lm.MIN_SOLAR]),
       start=st.integers(0, 60000), stop=st.integers(0, 60000))
def test_solar_claim_is_zero_or_a_legal_current(steps, mode, start, stop):
    s = lm.Solar(T0)
    now = T0
    for surplus, dt in steps:
        now = ticks_add(now, dt)
        claim = s.update(now, mode, surplus, start, stop)
        assert claim != NO_LIMIT
        assert claim == 0 or claim >= lm.MIN_DA
        if mode == lm.MIN_SOLAR:
            assert claim >= lm.MIN_DA
