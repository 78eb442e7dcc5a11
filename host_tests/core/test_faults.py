import pytest

from firmware.core import faults
from firmware.core.faults import BLUE, ORANGE, RED, WHITE

MANUAL = {  # the manual's colour sequences, S1..S4
    1: (WHITE, WHITE, WHITE, RED), 3: (WHITE, WHITE, ORANGE, ORANGE),
    5: (WHITE, RED, WHITE, RED), 8001: (BLUE, BLUE, BLUE, RED), 8002: (BLUE, BLUE, RED, BLUE),
    4003: (BLUE, BLUE, RED, RED), 8005: (BLUE, RED, BLUE, RED), 8007: (RED, RED, RED, RED),
}


@pytest.mark.parametrize("code", sorted(MANUAL))
def test_colour_sequences_are_the_manuals(code):
    assert tuple(faults.color(code, i) for i in range(4)) == MANUAL[code]


def test_recovery_rules():
    assert faults.rule(faults.UNPLUGGED) == faults.VEHICLE_GONE
    assert faults.rule(faults.OVER_TEMPERATURE) == faults.CONDITION
    assert faults.rule(faults.MAINS_VOLTAGE) == faults.CONDITION
    for code in (5, 8001, 4003, 8005):
        assert faults.rule(code) == faults.RETRY
    for code in (8007, 8008):
        assert faults.rule(code) == faults.PERMANENT


def test_every_code_has_a_meaning():
    for code in faults.CODES:
        assert len(faults.meaning(code)) > 10


def test_unknown_code():
    with pytest.raises(ValueError):
        faults.rule(42)
