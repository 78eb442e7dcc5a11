"""The relay guard's rule (core/guard.py): what a hard interrupt may decide alone."""
import pytest

from firmware.core.guard import guard_opens
from firmware.core.ticks import ticks_add, ticks_diff

LIMIT = 25  # the boards' KEEPALIVE_MS


def test_never_acts_on_an_open_relay():
    # the vehicle in A or B, or no tick for a long time: nothing to open, nothing done
    # (the technician's relay test and the boot path leave the relay to their owners)
    assert not guard_opens(False, True, 0, LIMIT)
    assert not guard_opens(False, False, 10 * LIMIT, LIMIT)
    assert not guard_opens(False, True, 10 * LIMIT, LIMIT)


def test_a_charging_relay_with_a_running_tick_stays_closed():
    for age in range(0, LIMIT + 1):
        assert not guard_opens(True, False, age, LIMIT)


def test_vehicle_leaving_c_or_d_opens_at_once():
    # the comparator's high plateau above the C/B threshold: the vehicle went to B or A
    assert guard_opens(True, True, 0, LIMIT)
    assert guard_opens(True, True, LIMIT, LIMIT)


@pytest.mark.parametrize("age", [LIMIT + 1, LIMIT + 5, 2000])
def test_a_stopped_tick_opens_after_the_keepalive_drop_out(age):
    assert guard_opens(True, False, age, LIMIT)


def test_the_limit_is_the_boundary():
    assert not guard_opens(True, False, LIMIT, LIMIT)
    assert guard_opens(True, False, LIMIT + 1, LIMIT)


def test_pulse_age_across_the_tick_wrap():
    # the driver passes ticks_diff(now, pulsed_at): right across the 2**30 ms wrap
    pulsed = ticks_add(0, -10)
    assert not guard_opens(True, False, ticks_diff(ticks_add(pulsed, 20), pulsed), LIMIT)
    assert guard_opens(True, False, ticks_diff(ticks_add(pulsed, 30), pulsed), LIMIT)


def test_a_pulse_newer_than_the_reading_is_no_stall():
    # a hard IRQ reads ticks_ms(), then the tick it interrupted stamps a newer pulse:
    # a negative age is a running tick
    assert not guard_opens(True, False, -3, LIMIT)



# What the charging core makes of a relay the guard (or the keep-alive) opened while the
# control tick could not run: it sees an open output on its next step.

def test_guard_opened_relay_and_vehicle_gone_is_an_ordinary_unplug():
    from firmware.core import charger as ch
    from firmware.core import faults
    from rig import Rig
    r = Rig().charge()
    r.run(2000)
    r.relay_dead = True  # the coil was opened under the core's feet
    r.car = "A"
    r.run(50)  # the pilot's change confirmed
    assert not r.c.relay
    assert r.c.fault != faults.NO_OUTPUT_VOLTAGE and r.c.last_fault != faults.NO_OUTPUT_VOLTAGE
    r.relay_dead = False
    r.run(20000)
    assert r.c.phase == ch.IDLE and r.c.retries == 0


def test_guard_opened_relay_after_a_long_stall_and_vehicle_gone_is_an_unplug():
    # no step ran for 2 s (the interpreter stuck in C); the guard opened the coil and
    # the vehicle left meanwhile: the first steps after see both at once
    from firmware.core import faults
    from firmware.core.ticks import ticks_add
    from rig import Rig
    r = Rig().charge()
    r.run(2000)
    r.relay_dead = True
    r.car = "A"
    r.now = ticks_add(r.now, 2000)
    r.run(50)
    assert not r.c.relay and r.c.fault != faults.NO_OUTPUT_VOLTAGE


def test_unplug_in_a_stall_right_after_closing_is_an_unplug():
    # the step after closing found the output dead (the sense lags the coil), then the
    # interpreter stalled 2 s, the guard opened the coil and the vehicle left meanwhile
    from firmware.core import faults
    from firmware.core.ticks import ticks_add
    from rig import Rig
    r = Rig().charge()
    r.relay_dead = True
    r.tick()
    r.car = "A"
    r.now = ticks_add(r.now, 2000)
    r.run(50)
    assert not r.c.relay and r.c.fault != faults.NO_OUTPUT_VOLTAGE


def test_guard_opened_relay_and_vehicle_back_in_b_ends_charging_without_8001():
    from firmware.core import faults
    from rig import Rig
    r = Rig().charge()
    r.run(2000)
    r.relay_dead = True
    r.car = "B"
    r.run(50)
    assert not r.c.relay and r.c.fault != faults.NO_OUTPUT_VOLTAGE


def test_relay_dropped_by_a_stall_with_the_vehicle_still_in_c_is_8001():
    # the keep-alive dropped the coil while the interpreter was stuck: the core finds a
    # dead output it commands live and, once that lasted the relay check time, takes
    # the 8001 retry path
    from firmware.core import faults
    from rig import Rig
    r = Rig().charge()
    r.run(2000)
    r.relay_dead = True
    r.run(900)
    assert r.c.relay and r.c.fault == 0
    r.run(200)
    assert r.c.fault == faults.NO_OUTPUT_VOLTAGE and not r.c.relay
