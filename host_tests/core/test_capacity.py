"""Capacity-tariff mode (core/capacity.py): the car gets what the 15-minute average
leaves under the target (the limit less MARGIN_PCT), steps down at once when the house
load steps up, and nothing frees a burst: neither an unknown past nor quiet minutes.

Runs on CPython and in the VM; time starts 30 s before the tick counter wraps.
"""
from firmware.core.capacity import MARGIN_PCT, Capacity
from firmware.core.ticks import ticks_add

T0 = ticks_add(0, -30000)
UNIT = 690  # 230 V x 3 phases
LIMIT = 11000
TARGET = LIMIT - LIMIT * MARGIN_PCT // 100


def steady(cap, house, car_da, seconds, start):
    """A reading every 2 s; the car draws what it was offered (up to car_da)."""
    offer = 0
    car_w = 0
    for s in range(0, seconds, 2):
        offer = cap.update(house + car_w, car_w, UNIT, 320, ticks_add(T0, (start + s) * 1000))
        car_w = min(offer, car_da) * UNIT // 10
    return offer


def test_a_new_box_assumes_the_past_at_the_target():
    cap = Capacity(LIMIT, T0)
    offer = cap.update(1000, 0, UNIT, 320, ticks_add(T0, 1000))
    assert offer == (TARGET - 1000) * 10 // UNIT  # no burst from an unknown past
    assert cap.average_w <= LIMIT


def test_a_house_load_step_lowers_the_car_at_once():
    cap = Capacity(LIMIT, T0)
    offer = steady(cap, 2000, 320, 1200, 0)
    assert (TARGET - 2000) * 10 // UNIT - 2 <= offer <= (TARGET - 2000) * 10 // UNIT + 2
    car_w = offer * UNIT // 10
    offer = cap.update(7000 + car_w, car_w, UNIT, 320, ticks_add(T0, 1201 * 1000))
    assert offer <= (TARGET - 7000) * 10 // UNIT
    assert cap.average_w <= LIMIT
    offer = steady(cap, 10500, 320, 120, 1202)
    assert offer == 0  # less than 6 A left: pause


def test_a_quiet_quarter_hour_lends_nothing_to_the_next_minutes():
    cap = Capacity(LIMIT, T0)
    steady(cap, 0, 0, 960, 0)  # 16 minutes importing nothing
    offer = cap.update(0, 0, UNIT, 320, ticks_add(T0, 961 * 1000))
    # the target, not the charger's maximum: quiet minutes are not lent (see capacity.py)
    assert offer == TARGET * 10 // UNIT
    assert cap.average_w == 0


def test_a_gap_in_the_readings_forgets_the_history():
    cap = Capacity(LIMIT, T0)
    steady(cap, 0, 0, 960, 0)
    offer = cap.update(0, 0, UNIT, 320, ticks_add(T0, 3000 * 1000))
    assert offer == TARGET * 10 // UNIT  # the past at the target again
