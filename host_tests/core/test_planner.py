"""Departure planning (core/planner.py): tariff tables, local time with DST, the plan's
slots and currents, the cost optimum on small cases, re-planning across the tick wrap.

Runs on CPython and in the VM. Times are Unix seconds; 2026-12-03 is a Thursday.
"""
import pytest

from allocation import brute_force
from firmware.core import planner as pl
from firmware.core.ticks import ticks_add

T0 = ticks_add(0, -30000)  # ticks 30 s before the wrap
THU_18 = 1796320800  # 2026-12-03 18:00 UTC (19:00 CET)
DST_ON_2026 = 1774746000  # 2026-03-29 01:00 UTC: CET -> CEST
DST_OFF_2026 = 1792890000  # 2026-10-25 01:00 UTC: CEST -> CET


def night_tariff():
    p = pl.Prices()
    p.std_offset_s = 3600
    p.dst = pl.DST_EU
    p.set_table(pl.parse_table("* 22-07 0.18; mo-fr 07-22 0.30; sa-su 0-24 0.25", True))
    return p


def test_eu_dst_switches_at_one_utc():
    assert pl.local_offset_s(DST_ON_2026 - 1, 3600, pl.DST_EU) == 3600
    assert pl.local_offset_s(DST_ON_2026, 3600, pl.DST_EU) == 7200
    assert pl.local_offset_s(DST_OFF_2026 - 1, 3600, pl.DST_EU) == 7200
    assert pl.local_offset_s(DST_OFF_2026, 3600, pl.DST_EU) == 3600
    assert pl.local_offset_s(DST_ON_2026, 3600, pl.DST_NONE) == 3600


def test_table_parsing_and_matching():
    rows = pl.parse_table("mo-fr 07:30-22 0.3; sa-su 0-24 0.25; * 22-07:30 0.18", True)
    assert rows[0] == (0x1F, 450, 1320, 30000)
    assert rows[1] == (0x60, 0, 1440, 25000)
    assert pl.table_match(rows, 3, 8 * 60)[3] == 30000  # Thursday 08:00
    assert pl.table_match(rows, 3, 23 * 60)[3] == 18000  # Thursday 23:00
    assert pl.table_match(rows, 4, 3 * 60)[3] == 18000  # Friday 03:00 (from Thursday)
    assert pl.table_match(rows, 5, 10 * 60)[3] == 25000  # Saturday
    assert pl.parse_table("su-tu 1-2", False)[0][0] == 0x43  # a range over the week's end
    assert pl.parse_price("-0.01") == -1000
    assert pl.parse_table(" ; ", True) == []


@pytest.mark.parametrize("text", ["mo-fr 07-22", "xx 07-22 0.3", "* 07 0.3", "* 25-26 0.3",
                                  "* 07-07 0.3", "* 07-22 abc", "* 07-22 0.123456",
                                  "* 7:60-8 0.1"])
def test_bad_tables_say_why(text):
    with pytest.raises(ValueError):
        pl.parse_table(text, True)


def test_overnight_plan_uses_the_cheap_night_hours():
    p = night_tariff()
    plan = pl.Planner()
    now = THU_18 + 7 * 60  # 19:07 local
    depart = THU_18 + 12 * 3600  # Friday 07:00 local
    missing = plan.plan(now, depart, 20000, 160, 3, 230, p, [], 3600, T0, 0)
    assert missing == 0
    night = THU_18 + 3 * 3600  # 22:00 local
    for i in range(plan.n):
        b, e = plan.slot_bounds(i)
        if plan.wh[i]:
            assert b >= night
            assert pl.MIN_DA <= plan.da[i] <= 160
    assert sum(plan.wh[i] for i in range(plan.n)) == 20000
    assert plan.cost == 18000 * 20000
    assert plan.claim(night - 1) == 0
    assert plan.claim(night) == 160  # the earliest cheap slots first
    assert night < plan.done_at < depart


def test_infeasible_charges_everything_and_says_what_is_missing():
    p = night_tariff()
    plan = pl.Planner()
    now = THU_18
    missing = plan.plan(now, now + 3600, 50000, 160, 3, 230, p, [], 3600, T0, 0)
    full = 160 * 690 * 3600 // 36000
    assert missing == 50000 - full
    assert all(plan.da[i] == 160 and plan.on_s[i] == 900 for i in range(plan.n))
    assert plan.done_at == 0


def test_below_the_minimum_current_a_slot_charges_part_of_its_time():
    plan = pl.Planner()
    plan.plan(THU_18, THU_18 + 900, 200, 320, 1, 230, pl.Prices(), [], 0, T0, 0)
    assert plan.da[0] == pl.MIN_DA
    on = plan.on_s[0]
    assert 60 * 230 * on // 36000 >= 200 > 60 * 230 * (on - 1) // 36000
    assert plan.claim(THU_18 + on - 1) == pl.MIN_DA and plan.claim(THU_18 + on) == 0


def test_windows_forbid_slots():
    windows = pl.parse_table("* 23-05", False)
    plan = pl.Planner()
    plan.plan(THU_18, THU_18 + 12 * 3600, 3000, 160, 1, 230, pl.Prices(), windows, 3600,
              T0, 0)
    for i in range(plan.n):
        b, _e = plan.slot_bounds(i)
        if plan.wh[i]:
            assert pl.allowed(windows, b, 3600)
    assert plan.claim(THU_18 + 4 * 3600) == 160  # 23:00 local, flat price: early


def test_feed_wins_over_the_table_where_it_covers():
    p = night_tariff()
    from array import array
    p.set_feed(THU_18, 3600, array("l", [50000, 1000, 50000]))
    assert p.at(THU_18 + 3600 + 5) == (1000, True)
    assert p.at(THU_18 + 3 * 3600) == (18000, True)  # past the feed: the table
    plan = pl.Planner()
    plan.plan(THU_18, THU_18 + 3 * 3600, 3000, 160, 1, 230, p, [], 3600, T0, 0)
    assert plan.claim(THU_18 + 3600) == 160 and plan.claim(THU_18) == 0


def test_slots_without_a_price_are_no_bargain():
    from array import array
    p = pl.Prices()
    p.set_feed(THU_18, 3600, array("l", [30000, 20000]))  # two hours known, then nothing
    plan = pl.Planner()
    plan.plan(THU_18, THU_18 + 6 * 3600, 3000, 160, 1, 230, p, [], 0, T0, 0)
    assert not plan.known
    assert plan.claim(THU_18 + 3600) == 160  # the cheaper known hour, not the unknown ones
    assert plan.price[plan.n - 1] == 30000  # unknown: the dearest known price
    flat = pl.Planner()
    flat.plan(THU_18, THU_18 + 6 * 3600, 3000, 160, 1, 230, pl.Prices(), [], 0, T0, 0)
    assert flat.claim(THU_18) == 160  # nothing known: charge early


def test_dst_night_has_the_real_number_of_slots():
    p = pl.Prices()
    p.std_offset_s, p.dst = 3600, pl.DST_EU
    plan = pl.Planner()
    now = DST_OFF_2026 - 3 * 3600  # 2026-10-24 22:00 UTC, the 25 h day
    plan.plan(now, now + 8 * 3600, 1000, 160, 1, 230, p, [], 7200, T0, 0)
    assert plan.n == 32  # 8 real hours, though the local clock shows 7


def test_the_next_departure_keeps_its_local_hour_across_a_clock_change():
    # Saturday 2026-10-24 20:00 UTC (22:00 CEST); 07:00 local on Sunday is CET again
    now = DST_OFF_2026 - 5 * 3600
    assert pl.next_local(now, 7 * 60, 3600, pl.DST_EU) == DST_OFF_2026 + 5 * 3600
    assert pl.next_local(now, 23 * 60, 3600, pl.DST_EU) == now + 3600  # today, CEST
    assert pl.next_local(THU_18, 19 * 60, 3600, pl.DST_NONE) == THU_18 + 86400  # 19:00 is now


def test_energy_from_km():
    assert pl.wanted_wh(0, 100, 180) == 18000
    assert pl.wanted_wh(125, 0, 180) == 12500


@pytest.mark.parametrize("prices,caps,need", [
    ([3, 1, 2], [4, 2, 3], 6), ([5, 5, 1, 1], [3, 3, 1, 2], 7), ([2, -1, 2], [3, 3, 3], 2),
    ([7, 3, 3, 1], [2, 0, 4, 1], 5)])
def test_allocation_matches_brute_force(prices, caps, need):
    n = len(caps)
    alloc = [0] * n
    assert pl.allocate(prices, caps, n, need, bytearray(n), alloc) == 0
    assert sum(prices[i] * alloc[i] for i in range(n)) == brute_force(prices, caps, need)
    assert all(0 <= alloc[i] <= caps[i] for i in range(n))


def test_replan_triggers_across_the_tick_wrap():
    p = night_tariff()
    plan = pl.Planner()
    now = THU_18 + 3 * 3600 + 60
    assert plan.due(now, T0, 0, p.rev, 160)
    plan.plan(now, now + 4 * 3600, 8000, 160, 3, 230, p, [], 3600, T0, 0)
    assert not plan.due(now + 10, ticks_add(T0, 10000), 0, p.rev, 160)  # too soon
    later = ticks_add(T0, 40000)  # past the wrap
    assert not plan.due(now + 40, later, 400, p.rev, 160)
    assert plan.due(now + 40, later, 400, p.rev, 100)  # the limit changed
    p.set_table(pl.parse_table("* 0-24 0.1", True))
    assert plan.due(now + 10, ticks_add(T0, 10000), 0, p.rev, 160)  # new prices: at once
    plan.plan(now, now + 4 * 3600, 8000, 160, 3, 230, p, [], 3600, T0, 0)
    assert plan.due(now + 840, ticks_add(T0, 840000), 0, p.rev, 160)  # the car lags
    assert plan.due(now + 900, ticks_add(T0, 900000), 10**6, p.rev, 160)  # next slot
