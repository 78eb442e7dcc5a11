from firmware.core import limits
from firmware.core.limits import Arbiter


def test_minimum_of_every_claim_and_who_set_it():
    a = Arbiter()
    a.set(limits.INSTALLATION, 320)
    a.set(limits.CABLE, 200)
    a.set(limits.LOAD, 130)
    assert a.resolve() == 130
    assert a.source == limits.LOAD
    a.clear(limits.LOAD)
    assert a.resolve() == 200 and a.source == limits.CABLE


def test_no_installation_limit_offers_nothing():
    a = Arbiter()
    assert a.resolve() == 0


def test_degrading_sources():
    a = Arbiter()
    a.set(limits.INSTALLATION, 320)
    a.set(limits.METER_FALLBACK, 100)
    a.resolve()
    assert a.degrading()
    a.clear(limits.METER_FALLBACK)
    a.set(limits.TEMPERATURE, 100)
    a.resolve()
    assert a.degrading()
    a.set(limits.APP, 60)
    a.resolve()
    assert not a.degrading()


def test_dip_table():
    assert limits.DIP_DA[0] == 0  # not set: commissioning
    assert len(limits.DIP_DA) == 16
    assert all(60 <= da <= 800 for da in limits.DIP_DA[1:])
    assert list(limits.DIP_DA[1:]) == sorted(limits.DIP_DA[1:])
    assert len(limits.NAMES) == limits.SLOTS


def test_the_plan_yields_to_a_backend_schedule_but_never_to_safety():
    a = Arbiter()
    a.set(limits.INSTALLATION, 320)
    a.set(limits.BACKEND, 200)
    a.set(limits.PLAN, 0)  # the plan pauses this quarter-hour
    assert a.resolve() == 0 and a.source == limits.PLAN  # backend offline: the plan
    a.backend_schedule = True
    assert a.resolve() == 200 and a.source == limits.BACKEND  # online with a schedule
    a.set(limits.LOAD, 100)
    assert a.resolve() == 100 and a.source == limits.LOAD  # load limits always win
    a.set(limits.TEMPERATURE, 80)
    assert a.resolve() == 80 and a.degrading()
    assert a.without(limits.PLAN) == 80
    a.backend_schedule = False
    a.set(limits.PLAN, 160)
    assert a.resolve() == 80
