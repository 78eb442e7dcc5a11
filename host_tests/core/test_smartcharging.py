"""Smart charging (OCPP 1.6 charging profiles) as pure logic: parsing, the limit at a
time, stack levels, purposes, kinds, units and the composite schedule."""
import pytest

from firmware.core import ocpp, smartcharging
from firmware.core.ocpp import CallError

T0 = 1795780800  # 2026-11-27T12:00:00Z
DAY = 86400


def prof(pid=1, purpose="TxDefaultProfile", kind="Absolute", stack=0, periods=((0, 16),),
         unit="A", start=T0, **extra):
    sched = {"chargingRateUnit": unit,
             "chargingSchedulePeriod": [{"startPeriod": s, "limit": lim} for s, lim in periods]}
    if start is not None:
        sched["startSchedule"] = ocpp.iso(start)
    for k in ("duration", "minChargingRate"):
        if k in extra:
            sched[k] = extra.pop(k)
    p = {"chargingProfileId": pid, "stackLevel": stack, "chargingProfilePurpose": purpose,
         "chargingProfileKind": kind, "chargingSchedule": sched}
    p.update(extra)
    return p


def parsed(*profiles):
    return [smartcharging.parse_profile(p, T0) for p in profiles]


def test_absolute_profile_periods_in_time():
    ps = parsed(prof(periods=((0, 16), (3600, 10), (7200, 32))))
    assert ocpp.limit_at(ps, T0 - 1, None, None) is None  # not started yet
    assert ocpp.limit_at(ps, T0, None, None) == 160
    assert ocpp.limit_at(ps, T0 + 3599, None, None) == 160
    assert ocpp.limit_at(ps, T0 + 3600, None, None) == 100
    assert ocpp.limit_at(ps, T0 + 10 * DAY, None, None) == 320  # no duration: the last one


def test_duration_ends_the_schedule():
    ps = parsed(prof(periods=((0, 8),), duration=600))
    assert ocpp.limit_at(ps, T0 + 599, None, None) == 80
    assert ocpp.limit_at(ps, T0 + 600, None, None) is None


def test_highest_stack_level_wins_and_lower_fills_its_gaps():
    low = prof(pid=1, stack=0, periods=((0, 20),))
    high = prof(pid=2, stack=3, periods=((0, 6),), duration=1800)
    ps = parsed(high, low)
    assert ocpp.limit_at(ps, T0 + 10, None, None) == 60
    assert ocpp.limit_at(ps, T0 + 1800, None, None) == 200  # the higher one has ended


def test_charge_point_max_caps_tx_profiles():
    cap = prof(pid=1, purpose="ChargePointMaxProfile", periods=((0, 10),))
    tx = prof(pid=2, purpose="TxProfile", periods=((0, 16),), transactionId=7)
    ps = parsed(cap, tx)
    assert ocpp.limit_at(ps, T0 + 5, 7, T0) == 100
    cap2 = parsed(prof(pid=1, purpose="ChargePointMaxProfile", periods=((0, 20),)))[0]
    assert ocpp.limit_at([cap2, ps[1]], T0 + 5, 7, T0) == 160


def test_tx_profile_overrules_tx_default_and_needs_its_transaction():
    default = prof(pid=1, purpose="TxDefaultProfile", periods=((0, 25),))
    tx = prof(pid=2, purpose="TxProfile", periods=((0, 12),), transactionId=7)
    ps = parsed(default, tx)
    assert ocpp.limit_at(ps, T0 + 5, 7, T0) == 120
    assert ocpp.limit_at(ps, T0 + 5, 8, T0) == 250  # another transaction: the default
    assert ocpp.limit_at(ps, T0 + 5, None, None) == 250  # no transaction


def test_relative_profile_starts_with_the_transaction():
    ps = parsed(prof(kind="Relative", start=None, periods=((0, 6), (1800, 16))))
    assert ocpp.limit_at(ps, T0, None, None) is None
    started = T0 + 5000
    assert ocpp.limit_at(ps, started + 100, 1, started) == 60
    assert ocpp.limit_at(ps, started + 1800, 1, started) == 160


@pytest.mark.parametrize("offset, expect", [
    (0, 100), (6 * 3600 - 1, 100), (6 * 3600, 320), (DAY - 1, 320), (DAY, 100),
    (DAY + 6 * 3600, 320), (-1, 320), (30 * DAY + 3600, 100),
])
def test_daily_recurring_profile(offset, expect):
    # 10 A from midnight for six hours, 32 A afterwards, every day
    midnight = T0 - 12 * 3600
    ps = parsed(prof(kind="Recurring", recurrencyKind="Daily", start=midnight,
                     periods=((0, 10), (6 * 3600, 32))))
    assert ocpp.limit_at(ps, midnight + offset, None, None) == expect


def test_weekly_recurring_profile():
    ps = parsed(prof(kind="Recurring", recurrencyKind="Weekly", start=T0,
                     periods=((0, 6), (DAY, 32))))
    assert ocpp.limit_at(ps, T0 + 7 * DAY + 10, None, None) == 60
    assert ocpp.limit_at(ps, T0 + 8 * DAY + 10, None, None) == 320


@pytest.mark.parametrize("watts, phases, expect", [
    (11040, 3, 160), (3680, 1, 160), (4140, None, 60), (1380, 1, 60),
])
def test_power_limits_become_current(watts, phases, expect):
    p = prof(unit="W", periods=((0, watts),))
    if phases is not None:
        p["chargingSchedule"]["chargingSchedulePeriod"][0]["numberPhases"] = phases
    ps = parsed(p)
    assert ocpp.limit_at(ps, T0, None, None, phases=3) == expect


def test_power_limit_uses_the_installation_phases_by_default():
    ps = parsed(prof(unit="W", periods=((0, 3680),)))
    assert ocpp.limit_at(ps, T0, None, None, phases=1) == 160
    assert ocpp.limit_at(ps, T0, None, None, phases=3) == 53


def test_valid_from_and_to():
    ps = parsed(prof(validFrom=ocpp.iso(T0 + 100), validTo=ocpp.iso(T0 + 200)))
    assert ocpp.limit_at(ps, T0 + 99, None, None) is None
    assert ocpp.limit_at(ps, T0 + 150, None, None) == 160
    assert ocpp.limit_at(ps, T0 + 200, None, None) is None


def test_composite_schedule_merges_profiles():
    cap = prof(pid=1, purpose="ChargePointMaxProfile", periods=((0, 20), (1200, 12)))
    default = prof(pid=2, periods=((0, 16), (600, 32)))
    ps = parsed(cap, default)
    got = smartcharging.composite(ps, T0, 1800, None, None, 320)
    assert got == [(0, 160), (600, 200), (1200, 120)]


def test_composite_uses_the_hardware_limit_where_no_profile_applies():
    ps = parsed(prof(periods=((0, 6),), start=T0 + 300, duration=300))
    got = smartcharging.composite(ps, T0, 1200, None, None, 250)
    assert got == [(0, 250), (300, 60), (600, 250)]


def test_composite_of_a_daily_profile_over_two_days():
    midnight = T0 - 12 * 3600
    ps = parsed(prof(kind="Recurring", recurrencyKind="Daily", start=midnight,
                     periods=((0, 10), (6 * 3600, 32))))
    got = smartcharging.composite(ps, T0, 2 * DAY, None, None, 320)
    assert got == [(0, 320), (12 * 3600, 100), (18 * 3600, 320), (36 * 3600, 100),
                   (42 * 3600, 320)]


@pytest.mark.parametrize("change, code", [
    ({"stackLevel": "1"}, "TypeConstraintViolation"),
    ({"chargingProfilePurpose": "Whatever"}, "PropertyConstraintViolation"),
    ({"chargingProfileKind": None}, "OccurenceConstraintViolation"),
    ({"chargingSchedule": []}, "TypeConstraintViolation"),
    ({"validFrom": "yesterday"}, "TypeConstraintViolation"),
])
def test_malformed_profiles_are_call_errors(change, code):
    p = prof()
    p.update(change)
    with pytest.raises(CallError) as e:
        smartcharging.parse_profile(p, T0)
    assert e.value.args[0] == code


@pytest.mark.parametrize("p", [
    prof(periods=((0, 16), (0, 10))),  # not increasing
    prof(periods=((10, 16),)),  # first period not at 0
    prof(periods=((0, -1),)),
    prof(stack=99),
    prof(kind="Recurring", start=T0),  # no recurrencyKind
    prof(purpose="ChargePointMaxProfile", transactionId=3),
    prof(periods=tuple((i, 16) for i in range(30))),  # too many periods
])
def test_well_formed_but_unacceptable_profiles_are_rejected(p):
    with pytest.raises(ValueError):
        smartcharging.parse_profile(p, T0)


def test_absolute_profile_without_start_begins_when_received():
    ps = [smartcharging.parse_profile(prof(start=None, periods=((0, 10), (60, 20))), T0 + 500)]
    assert ocpp.limit_at(ps, T0 + 520, None, None) == 100
    assert ocpp.limit_at(ps, T0 + 560, None, None) == 200


def test_fractional_limits_round_down():
    ps = parsed(prof(periods=((0, 13.37),)))
    assert ocpp.limit_at(ps, T0, None, None) == 133
