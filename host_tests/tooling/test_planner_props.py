"""Properties of departure planning (core/planner.py), with hypothesis (CPython).

A plan is checked against what a car drawing exactly the offered current would get:
it never offers more than the limit or less than the pilot's minimum while charging,
never charges outside the allowed windows, delivers the energy by the departure whenever
the slots can hold it (and says exactly what is missing otherwise), and costs what a
brute-force search finds cheapest on small cases. Local time comes from the system's
time-zone database (Europe/Berlin), not from the planner's own rule.
"""
import calendar
import datetime
import zoneinfo

from hypothesis import given, settings
from hypothesis import strategies as st

from allocation import brute_force
from firmware.core import planner as pl
from firmware.core.ticks import PERIOD, ticks_add, ticks_diff

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
TABLE = pl.parse_table("mo-fr 06-09 0.32; mo-fr 17-21 0.41; * 22-06 0.17; "
                       "sa-su 09-22 0.22; * 0-24 0.27", True)
WINDOWS = [pl.parse_table("* 0-24", False), pl.parse_table("* 21-07", False),
           pl.parse_table("mo-fr 23-05; sa-su 0-24", False), []]
DST_EDGES = [calendar.timegm(t) for t in ((2026, 3, 29, 1, 0, 0), (2026, 10, 25, 1, 0, 0),
                                          (2027, 3, 28, 1, 0, 0), (2030, 10, 27, 1, 0, 0))]


def berlin_prices():
    p = pl.Prices()
    p.std_offset_s, p.dst = 3600, pl.DST_EU
    p.set_table(TABLE)
    return p


@given(st.lists(st.tuples(st.integers(-20, 60), st.integers(0, 6)), min_size=1, max_size=5),
       st.integers(0, 30))
def test_allocation_cost_equals_the_brute_force_optimum(slots, need):
    prices = [p for p, _c in slots]
    caps = [c for _p, c in slots]
    n = len(slots)
    alloc = [0] * n
    missing = pl.allocate(prices, caps, n, need, bytearray(n), alloc)
    assert all(0 <= alloc[i] <= caps[i] for i in range(n))
    assert sum(alloc) + missing == need
    if need <= sum(caps):
        assert missing == 0
        assert sum(prices[i] * alloc[i] for i in range(n)) == brute_force(prices, caps, need)
    else:
        assert alloc == caps  # as fast as allowed: every slot full


plans = st.tuples(
    st.integers(calendar.timegm((2026, 1, 1, 0, 0, 0)), calendar.timegm((2031, 1, 1, 0, 0, 0))),
    st.builds(lambda q, s: q * 900 + s, st.integers(0, 120), st.integers(0, 899)),  # departure
    st.builds(lambda k, r: k * 1000 + r, st.integers(0, 120), st.integers(0, 999)),  # Wh
    st.integers(0, 320),  # the limit (0.1 A)
    st.sampled_from([1, 3]),
    st.integers(200, 240),  # volts
    st.sampled_from(range(len(WINDOWS))),
)


def check_plan(now, ahead, need, max_da, phases, volts, w):
    prices = berlin_prices()
    plan = pl.Planner()
    depart = now + ahead
    offset = pl.local_offset_s(now, 3600, pl.DST_EU)
    missing = plan.plan(now, depart, need, max_da, phases, volts, prices, WINDOWS[w], offset,
                        0, 0)
    unit = phases * volts
    delivered = 0
    for i in range(plan.n):
        b, e = plan.slot_bounds(i)
        assert plan.now <= b < e <= plan.depart
        da, on = plan.da[i], plan.on_s[i]
        if plan.wh[i] == 0:
            assert da == 0 and on == 0
            continue
        assert pl.MIN_DA <= da <= max_da  # never above any limit, never a useless offer
        assert 0 < on <= e - b
        assert pl.allowed(WINDOWS[w], b, offset)
        got = da * unit * on // 36000  # a car drawing what it is offered
        assert got >= plan.wh[i]
        delivered += got
    caps = sum(plan.cap[i] for i in range(plan.n))
    if need <= caps:
        assert missing == 0
        assert delivered >= need
        assert plan.done_at <= depart
        costs = [plan.price[i] for i in range(plan.n)]
        # no cheaper slot left with room while a dearer one charges
        for i in range(plan.n):
            for j in range(plan.n):
                if plan.wh[i] > 0 and plan.wh[j] < plan.cap[j]:
                    assert costs[j] >= costs[i]
    else:
        assert missing == need - caps
        assert all(plan.wh[i] == plan.cap[i] for i in range(plan.n))
    assert plan.cost == sum(plan.price[i] * plan.wh[i] for i in range(plan.n))
    # the claim at any second of the plan is within the limit
    for t in range(now, depart, 397):
        assert 0 <= plan.claim(t) <= max(max_da, 0)
    return plan


@settings(max_examples=300)
@given(plans)
def test_plans_respect_limits_and_deliver_when_feasible(case):
    check_plan(*case)


@settings(max_examples=100)
@given(st.sampled_from(DST_EDGES), st.integers(-12 * 3600, 12 * 3600), st.integers(0, 20 * 3600),
       st.integers(0, 60000))
def test_dst_changes(edge, shift, ahead, need):
    now = edge + shift
    plan = check_plan(now, ahead, need, 160, 3, 230, 0)
    start = now - now % pl.SLOT_S
    assert plan.n == ((now + ahead - start + pl.SLOT_S - 1) // pl.SLOT_S if ahead else 0)
    for i in range(plan.n):  # every slot's price is the table's at Berlin's wall clock
        b, _e = plan.slot_bounds(i)
        local = datetime.datetime.fromtimestamp(b, BERLIN)
        row = pl.table_match(TABLE, local.weekday(), local.hour * 60 + local.minute)
        assert plan.price[i] == row[3]


@given(st.integers(0, PERIOD - 1), st.integers(0, 29999), st.integers(30000, 10**6))
def test_replanning_waits_30_s_across_the_tick_wrap(t0, soon, late):
    prices = berlin_prices()
    plan = pl.Planner()
    now = DST_EDGES[0]
    plan.plan(now, now + 3600, 5000, 160, 3, 230, prices, [], 3600, t0, 0)
    assert ticks_diff(ticks_add(t0, soon), t0) == soon
    assert not plan.due(now + 1, ticks_add(t0, soon), 0, prices.rev, 100)
    assert plan.due(now + 1, ticks_add(t0, late), 0, prices.rev, 100)
    assert plan.due(now + 1, ticks_add(t0, soon), 0, prices.rev + 1, 160)  # prices: at once


@settings(max_examples=200)
@given(st.sampled_from(DST_EDGES), st.integers(-36 * 3600, 36 * 3600),
       st.integers(0, 1439).filter(lambda m: not 120 <= m < 180))  # 02:00-03:00 may not exist
def test_the_next_departure_is_that_local_time_within_a_day(edge, shift, minute):
    now = edge + shift
    t = pl.next_local(now, minute, 3600, pl.DST_EU)
    local = datetime.datetime.fromtimestamp(t, BERLIN)
    assert local.hour * 60 + local.minute == minute
    assert now < t <= now + 25 * 3600
