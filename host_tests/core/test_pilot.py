import pytest

from firmware.core import pilot as cp
from firmware.core.pilot import PilotClassifier, band

PWM = 2666  # a duty with PWM running
X1 = 10000  # constant +12 V


@pytest.mark.parametrize("mv, state", [(12000, cp.A), (11000, cp.A), (13000, cp.A),
                                       (9000, cp.B), (8000, cp.B), (10000, cp.B),
                                       (6000, cp.C), (5000, cp.C), (7000, cp.C),
                                       (3000, cp.D), (2000, cp.D), (4000, cp.D),
                                       (0, cp.E), (-1000, cp.E), (1000, cp.E),
                                       (-12000, cp.F), (14000, cp.INVALID),
                                       (-14000, cp.INVALID)])
def test_bands(mv, state):
    assert band(mv) == state


def feed(p, mv, n, low=-12000, duty=PWM):
    for _ in range(n):
        p.update(mv, low, duty)
    return p.state


def test_debounce_needs_consistent_samples():
    p = PilotClassifier(confirm_fast=2, confirm=4)
    assert feed(p, 12000, 2) == cp.A  # first state from unknown: fast
    assert feed(p, 9000, 3) == cp.A  # A -> B needs 4
    assert feed(p, 9000, 1) == cp.B
    assert feed(p, 6000, 3) == cp.B
    assert feed(p, 6000, 1) == cp.C


def test_leaving_c_and_reaching_a_are_fast():
    p = PilotClassifier(confirm_fast=2, confirm=4)
    feed(p, 6000, 4)
    assert feed(p, 9000, 1) == cp.C
    assert feed(p, 9000, 1) == cp.B  # C -> B after 2
    feed(p, 6000, 4)
    assert feed(p, 12000, 2) == cp.A  # C -> A after 2


def test_a_glitch_does_not_change_state():
    p = PilotClassifier()
    feed(p, 9000, 5)
    for _ in range(20):
        p.update(6000, -12000, PWM)  # single-sample glitches interleaved
        p.update(9000, -12000, PWM)
    assert p.state == cp.B


def test_hysteresis_holds_near_the_boundary():
    p = PilotClassifier(hysteresis_mv=300)
    feed(p, 9000, 5)
    assert feed(p, 7300, 10) == cp.B  # 200 mV below the B/C edge: still B
    assert feed(p, 7100, 4) == cp.C  # beyond the hysteresis
    assert feed(p, 7700, 10) == cp.C  # back 200 mV above the edge: still C


def test_diode_missing_detected_with_pwm_only():
    p = PilotClassifier(confirm=4)
    feed(p, 9000, 5)
    assert p.diode_ok
    feed(p, 9000, 3, low=-9000)
    assert p.diode_ok  # not yet: needs `confirm` samples
    feed(p, 9000, 1, low=-9000)
    assert not p.diode_ok
    feed(p, 9000, 1, low=-12000)
    assert p.diode_ok
    p2 = PilotClassifier()
    feed(p2, 9000, 10, low=9000, duty=X1)  # no PWM: no low plateau to judge
    assert p2.diode_ok


def test_driving_state_f_ourselves_is_not_classified():
    p = PilotClassifier()
    feed(p, 6000, 5)
    assert feed(p, -12000, 20, duty=0) == cp.C


def test_invalid_levels():
    p = PilotClassifier()
    assert feed(p, 15000, 4) == cp.INVALID


def test_vehicle_present_follows_the_plug_not_the_level_we_drive():
    p = PilotClassifier()
    assert not p.vehicle  # nothing classified yet
    feed(p, 6000, 5)
    assert p.vehicle
    # A fault: we drive -12 V, then x1 again; the first readings after it still show
    # -12 V (the generator follows with a delay) or a short shows 0 V: no unplug.
    feed(p, -12000, 10, duty=0)
    assert feed(p, -12000, 5, duty=X1) == cp.F and p.vehicle
    assert feed(p, 0, 5, duty=X1) == cp.E and p.vehicle
    assert feed(p, 15000, 5, duty=X1) == cp.INVALID and p.vehicle
    assert feed(p, 12000, 2, duty=X1) == cp.A and not p.vehicle  # only A is gone
    assert feed(p, -12000, 5, duty=X1) == cp.F and not p.vehicle  # F says nothing


@pytest.mark.parametrize("state, before, now", [
    (cp.A, True, False), (cp.B, False, True), (cp.C, False, True), (cp.D, False, True),
    (cp.E, True, True), (cp.E, False, False), (cp.F, True, True), (cp.F, False, False),
    (cp.INVALID, True, True), (0, False, False)])
def test_present_is_the_one_definition(state, before, now):
    assert cp.present(state, before) is now


def test_an_interrupted_burst_is_no_evidence_for_the_plateau_it_missed():
    """Issue 13.4: a burst that missed a plateau (the driver's high_ok / low_ok False)
    reports the plateau it saw for both; the one it missed moves neither the state nor
    the diode check, and the debounce counts carry on past it."""
    p = PilotClassifier(confirm_fast=2, confirm=4)
    feed(p, 6000, 5)
    for _ in range(50):
        assert p.update(-12000, -12000, PWM, False, True) == cp.C  # low only: not F
        assert p.update(6000, 6000, PWM, True, False) == cp.C and p.diode_ok  # high only
    assert p.vehicle
    # a missing diode: 4 bursts that saw the low plateau, whatever came in between
    for k in range(4):
        assert p.diode_ok
        p.update(6000, 6000, PWM, True, False)
        p.update(-6000, -6000, PWM, False, True)
    assert not p.diode_ok
    # unplugged: 2 bursts that saw the high plateau, the others do not delay it
    p.update(12000, 12000, PWM, True, False)
    p.update(-12000, -12000, PWM, False, True)
    assert p.update(12000, 12000, PWM, True, False) == cp.A
    # a pilot stuck at one level (the driver saw no gap that could hide the other): F
    feed(p, 9000, 5)
    assert feed(p, -12000, 4, low=-12000) == cp.F


def test_confirming_while_a_new_state_waits_for_its_debounce():
    p = PilotClassifier(confirm_fast=2, confirm=4)
    feed(p, 9000, 5)
    assert p.state == cp.B and not p.confirming()
    feed(p, 6000, 3)  # C seen three times of four
    assert p.state == cp.B and p.confirming()
    feed(p, 6000, 1)
    assert p.state == cp.C and not p.confirming()
    feed(p, 9000, 1)  # C -> B needs 2
    assert p.confirming()
    p.update(6000, -12000, PWM)  # back to the current state: nothing pending
    assert p.state == cp.C and not p.confirming()
    p.update(9000, -12000, PWM, high_ok=False)  # an interrupted burst changes nothing
    assert not p.confirming()
