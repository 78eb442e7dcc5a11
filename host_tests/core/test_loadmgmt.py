"""Domestic connection monitoring and solar surplus: the pure logic of core/loadmgmt.py.

Time starts 30 s before the tick counter wraps. Runs on CPython and in the VM.
"""
import pytest

from firmware.core import loadmgmt as lm
from firmware.core.limits import NO_LIMIT
from firmware.core.loadmgmt import FALLBACK_DA, MIN_DA, Load, Solar
from firmware.core.ticks import ticks_add

T0 = ticks_add(0, -30000)


def at(ms):
    return ticks_add(T0, ms)


def reading(i=(0, 0, 0), p=None, v=2300, pt=None):
    """A decoded reading (core/meters.py order): currents in 0.1 A, powers in W."""
    if p is None:
        p = [x * v // 100 for x in i]
    total = pt if pt is not None else sum(p)
    return [v, v, v, i[0], i[1], i[2], p[0], p[1], p[2], total, 1000, 0]


# ------------------------------------------------------------------ plausibility
def test_a_normal_reading_is_plausible():
    assert lm.plausible(reading((100, 50, 0))) == 0
    single = [2300, None, None, 80, None, None, 1840, None, None, 1840, 5, 5]
    assert lm.plausible(single) == 0


@pytest.mark.parametrize("field,value", [
    (0, -1), (1, 4000), (3, -5), (5, 20000), (6, 400000), (9, -2000000), (10, -1)])
def test_impossible_values_are_rejected_by_field(field, value):
    v = reading((100, 100, 100))
    v[field] = value
    if field in (3, 5):  # keep the power consistent so the current itself is judged
        v[field + 3] = 0
    assert lm.plausible(v) == field + 1


def test_a_meter_without_voltage_is_not_on_this_supply():
    v = reading((0, 0, 0), v=0)  # e.g. integer registers read as floats: all zeros
    assert lm.plausible(v) == 1
    v = reading((0, 0, 0))
    v[1] = v[2] = 0  # a single-phase house on a three-phase meter
    assert lm.plausible(v) == 0


def test_power_larger_than_voltage_times_current_is_rejected():
    v = reading((10, 0, 0))  # 1 A at 230 V: 230 W at most
    v[6] = 5000
    assert lm.plausible(v) == 7


# ---------------------------------------------------------------------- headroom
def test_headroom_is_the_fuse_minus_the_most_loaded_phase_without_the_car():
    # grid: L1 20 A, L2 35 A, L3 16 A; the car draws 16 A on every phase
    v = reading((200, 350, 160))
    assert lm.headroom(400, v, [160, 160, 160]) == 400 - (350 - 160)


def test_exported_current_on_a_phase_counts_against_the_house_load():
    # every phase exports 10 A (negative power) while the car draws 10 A: house -20 A
    v = reading((100, 100, 100), p=[-2300, -2300, -2300])
    assert lm.headroom(250, v, [100, 100, 100]) == 250 + 200
    # only L1 exports: the other phases (no load) decide
    v = reading((100, 0, 0), p=[-2300, 0, 0])
    assert lm.headroom(250, v, [100, 0, 0]) == 250


def test_without_a_phase_power_a_current_counts_as_import():
    v = reading((100, 0, 0), p=[None, None, None], pt=-5000)
    assert lm.headroom(250, v, [0, 0, 0]) == 150


def test_single_phase_meter_and_no_reading_at_all():
    single = [2300, None, None, 120, None, None, 2760, None, None, 2760, 0, 0]
    assert lm.headroom(250, single, [0, 0, 0]) == 130
    nothing = [None] * 12
    assert lm.headroom(250, nothing, [0, 0, 0]) == 0


def test_headroom_never_negative():
    assert lm.headroom(250, reading((400, 0, 0)), [0, 0, 0]) == 0


def test_settled_keeps_the_smallest_draw():
    prev, before, after = [100, 100, 0], [100, 95, 0], [104, 99, 0]
    assert lm.settled(prev, before, after)
    assert before == [100, 95, 0]
    before = [160, 160, 160]
    assert not lm.settled([160, 160, 160], before, [100, 100, 100])
    assert before == [100, 100, 100]
    before = [100, 100, 100]
    assert not lm.settled([60, 100, 100], before, [100, 100, 100])


# -------------------------------------------------------------------------- Load
def test_before_the_first_reading_10_a_then_the_headroom():
    ld = Load(at(0))
    assert ld.claim == FALLBACK_DA and not ld.lost
    ld.feed(at(500), 180)
    assert ld.claim == 180


def test_decrease_at_once_increase_after_the_rise_time_to_the_lowest_headroom():
    ld = Load(at(0), rise_ms=5000)
    ld.feed(at(0), 200)
    ld.feed(at(1000), 120)
    assert ld.claim == 120  # at once
    ld.feed(at(2000), 200)
    ld.feed(at(3000), 160)
    ld.feed(at(6000), 180)
    assert ld.claim == 120  # 4 s of more headroom: not yet
    ld.feed(at(7000), 190)
    assert ld.claim == 160  # the lowest seen while waiting


def test_a_creep_inside_the_dead_band_does_not_move_the_claim():
    """Issue 13.7: readings 0.1-0.2 A low (noise, a rounding bias) must not walk the
    claim down 0.1 A at a time: each change would use up the core's 5 s window, and a real
    load step right after it would wait. A drop beyond the band applies at once."""
    ld = Load(at(0))
    ld.feed(at(0), 70)
    for s in range(1, 60):
        ld.feed(at(s * 1000), 70 - s % 3)  # 7.0, 6.9, 6.8 A, ...
        assert ld.claim == 70
    ld.feed(at(60000), 67)  # 0.3 A less: real
    assert ld.claim == 67
    ld.feed(at(61000), 65)  # within the band of the new claim
    assert ld.claim == 67
    ld.feed(at(62000), 30)  # a load step: at once
    assert ld.claim == 0 and ld.paused


def test_less_than_1_a_more_headroom_does_not_move_the_claim():
    ld = Load(at(0), rise_ms=1000)
    ld.feed(at(0), 150)
    for s in range(1, 30):
        ld.feed(at(s * 1000), 150 + s % 10)  # 0..0.9 A above
        assert ld.claim == 150


def test_pause_below_6_a_and_resume_with_hysteresis():
    ld = Load(at(0), resume_ms=10000)
    ld.feed(at(0), 100)
    ld.feed(at(1000), 59)
    assert ld.claim == 0 and ld.paused
    ld.feed(at(2000), 65)  # 6.5 A: above the minimum but below the resume level
    ld.feed(at(20000), 69)
    assert ld.claim == 0
    ld.feed(at(21000), 90)
    ld.feed(at(25000), 70)
    ld.feed(at(30000), 120)
    assert ld.claim == 0  # 9 s at >= 7 A
    ld.feed(at(31000), 120)
    assert ld.claim == 70 and not ld.paused


def test_resume_waits_again_after_a_dip():
    ld = Load(at(0), resume_ms=10000)
    ld.feed(at(0), 30)
    assert ld.claim == 0
    ld.feed(at(1000), 100)
    ld.feed(at(8000), 50)  # dip: start over
    ld.feed(at(9000), 100)
    ld.feed(at(18000), 100)
    assert ld.claim == 0
    ld.feed(at(19000), 100)
    assert ld.claim == 100


def test_meter_lost_after_the_timeout_and_back_with_the_next_reading():
    ld = Load(at(0), lost_ms=10000)
    ld.feed(at(0), 200)
    assert not ld.step(at(9999))
    assert ld.step(at(10000)) and ld.lost and ld.claim == FALLBACK_DA
    assert ld.step(at(60000))
    ld.feed(at(61000), 250)
    assert not ld.lost and ld.claim == 250  # normal control again, at once
    assert not ld.step(at(62000))


@pytest.mark.parametrize("before, fallback", [(70, 70), (100, 100), (250, FALLBACK_DA),
                                              (40, 0)])
def test_meter_lost_reduces_to_10_a_and_never_raises(before, fallback):
    """Issue 13.5: house 18 A on a 25 A fuse, 7 A offered; the meter lost must not put
    10 A on top of the unknown house load. A pause (under 6 A) stays a pause."""
    ld = Load(at(0), lost_ms=10000)
    ld.feed(at(0), before)
    assert ld.step(at(10000)) and ld.claim == fallback
    assert ld.step(at(600000)) and ld.claim == fallback  # for as long as it stays lost


def test_back_from_lost_into_a_pause_when_the_house_takes_everything():
    ld = Load(at(0), lost_ms=2000)
    ld.feed(at(0), 200)
    ld.step(at(5000))
    ld.feed(at(6000), 40)
    assert not ld.lost and ld.paused and ld.claim == 0


def test_no_reading_ever_is_lost_too():
    ld = Load(at(0), lost_ms=10000)
    assert not ld.step(at(5000)) and ld.claim == FALLBACK_DA
    assert ld.step(at(10000))


def test_unsettled_readings_are_skipped_a_few_times_only():
    ld = Load(at(0), lost_ms=3000)
    ld.feed(at(0), 200)
    for s in (1, 2, 3):
        ld.feed(at(s * 1000), 100, False)
        assert ld.claim == 200 and not ld.step(at(s * 1000 + 500))
    ld.feed(at(4000), 100, False)  # the fourth in a row counts
    assert ld.claim == 100


def test_a_first_reading_taken_while_the_car_starts_is_skipped_too():
    # the house at 6 A on a 20 A fuse; the first reading fell while the car went from 0
    # to 10 A: with the smallest draw taken out it shows 16 A of house, 4 A of room
    ld = Load(at(0), lost_ms=5000)
    ld.feed(at(1000), 40, False)
    assert ld.claim == FALLBACK_DA and not ld.paused
    ld.feed(at(2000), 140)  # settled: the house's real load
    assert ld.claim == 140 and not ld.paused
    ld = Load(at(0), lost_ms=5000)
    for s in (1, 2, 3):
        ld.feed(at(s * 1000), 40, False)
    ld.feed(at(4000), 40, False)  # never settling: the fourth counts, the safe side
    assert ld.paused and ld.claim == 0


def test_the_claim_never_exceeds_the_latest_headroom():
    ld = Load(at(0), rise_ms=2000, resume_ms=3000)
    seq = [300, 250, 400, 400, 400, 50, 80, 80, 80, 80, 200, 75, 75, 300, 300, 300, 10,
           100, 99, 98, 97, 300]
    for k, room in enumerate(seq):
        ld.feed(at(k * 1000), room)
        assert ld.claim <= room + lm.DEAD_BAND_DA
        assert ld.claim == 0 or ld.claim >= MIN_DA


# ------------------------------------------------------------------------- Solar
def test_immediate_mode_does_not_limit():
    s = Solar(at(0))
    assert s.update(at(0), lm.IMMEDIATE, 0, 1000, 1000) == NO_LIMIT


def test_solar_starts_after_the_surplus_held_6_a_follows_it_and_stops_after_the_delay():
    s = Solar(at(0))
    assert s.update(at(0), lm.SOLAR, 100, 3000, 5000) == 0
    assert s.update(at(2000), lm.SOLAR, 100, 3000, 5000) == 0
    assert s.update(at(3000), lm.SOLAR, 100, 3000, 5000) == 100 and s.running
    for k in range(4, 12):
        claim = s.update(at(k * 1000), lm.SOLAR, 140, 3000, 5000)
    assert 130 <= claim <= 140  # follows, smoothed
    for k in range(12, 30):
        claim = s.update(at(k * 1000), lm.SOLAR, 0, 3000, 5000)
        if not s.running:
            break
        assert claim >= MIN_DA  # keeps 6 A through a cloud
    assert not s.running and claim == 0
    assert 12 + 5 <= k <= 12 + 5 + 6  # smoothing takes a few readings to fall


def test_solar_does_not_start_on_a_short_burst():
    s = Solar(at(0))
    for k in range(10):
        sur = 100 if k % 3 else 0
        assert s.update(at(k * 1000), lm.SOLAR, sur, 5000, 5000) == 0


def test_minimum_plus_solar_never_goes_below_6_a():
    s = Solar(at(0))
    assert s.update(at(0), lm.MIN_SOLAR, None, 1000, 1000) == MIN_DA
    assert s.update(at(1000), lm.MIN_SOLAR, 0, 1000, 1000) == MIN_DA
    for k in range(2, 20):
        claim = s.update(at(k * 1000), lm.MIN_SOLAR, 200, 1000, 1000)
    assert claim > 190


def test_surplus_from_the_grid_meter_export():
    # the car draws 10 A on three phases at 230 V (6900 W); 2000 W still go out
    grid = reading((0, 0, 0), p=[0, 0, 0], pt=-2000)
    assert lm.surplus(grid, [100, 100, 100], 3, None) == (6900 + 2000) * 100 // (2300 * 3)
    # importing 3000 W with nothing charging: no surplus at all (negative)
    grid = reading((0, 0, 0), p=[0, 0, 0], pt=3000)
    assert lm.surplus(grid, [0, 0, 0], 1, None) < 0


def test_surplus_from_a_solar_meter_alone_and_unknown():
    assert lm.surplus(None, [0, 0, 0], 1, -4600) == 200
    assert lm.surplus(None, [0, 0, 0], 3, 4140) == 60
    assert lm.surplus(None, [0, 0, 0], 3, None) is None
