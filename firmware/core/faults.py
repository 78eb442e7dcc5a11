"""The fault table: every fault's code, meaning, LED sequence and recovery rule in one
place, and the colour ids the LEDs use.

Codes and colour sequences are the manual's (S1..S4 left to right). 8008 (protective
earth) has no code in the manual, which only says "permanent red"; it is this firmware's.
"""
from micropython import const

# Colour ids, shared with the LED logic (front.py); the LED driver maps them to RGB.
OFF = const(0)
RED = const(1)
GREEN = const(2)
BLUE = const(3)
WHITE = const(4)
ORANGE = const(5)

NONE = const(0)
UNPLUGGED = const(1)
OVER_TEMPERATURE = const(3)
IMPERMISSIBLE_LOAD = const(5)
OVERCURRENT = const(4003)
NO_OUTPUT_VOLTAGE = const(8001)
MAINS_VOLTAGE = const(8002)
RESIDUAL_CURRENT = const(8005)
WELDED_RELAY = const(8007)
PROTECTIVE_EARTH = const(8008)

# Recovery rules
VEHICLE_GONE = const(1)  # show the code, then idle; a new plug-in starts afresh
CONDITION = const(2)  # resume by itself once the cause is gone; no retry counted
RETRY = const(3)  # retry after a pause, at most `max_retries` times, then wait for unplug
PERMANENT = const(4)  # permanent red; only a restart from the mains clears it

# The table's columns: code, rule, S1..S4 colours, meaning
_CODE = const(0)
_RULE = const(1)
_S1 = const(2)
_MEANING = const(6)
_TABLE = const((
    (UNPLUGGED, VEHICLE_GONE, WHITE, WHITE, WHITE, RED,
     "Vehicle disconnected during self-test or while charging"),
    (OVER_TEMPERATURE, CONDITION, WHITE, WHITE, ORANGE, ORANGE,
     "Temperature shut-off: charging resumes after cooling"),
    (IMPERMISSIBLE_LOAD, RETRY, WHITE, RED, WHITE, RED,
     "Impermissible load instead of a vehicle (pilot diode missing or pilot shorted)"),
    (NO_OUTPUT_VOLTAGE, RETRY, BLUE, BLUE, BLUE, RED,
     "Charging voltage could not be switched on (relay closed, no output voltage)"),
    (MAINS_VOLTAGE, CONDITION, BLUE, BLUE, RED, BLUE,
     "Input voltage outside 160-280 V"),
    (OVERCURRENT, RETRY, BLUE, BLUE, RED, RED,
     "Vehicle drew more current than offered"),
    (RESIDUAL_CURRENT, RETRY, BLUE, RED, BLUE, RED,
     "Fault current: DC detector tripped or failed its self-test"),
    (WELDED_RELAY, PERMANENT, RED, RED, RED, RED,
     "Relay welded: output voltage cannot be switched off"),
    (PROTECTIVE_EARTH, PERMANENT, RED, RED, RED, RED,
     "Protective earth missing or its resistance too high"),
))
CODES = tuple(row[_CODE] for row in _TABLE)


def _row(code):
    for row in _TABLE:
        if row[_CODE] == code:
            return row
    raise ValueError("unknown fault code %d" % code)


def rule(code):
    return _row(code)[_RULE]


def color(code, segment):
    """Colour of status LED segment 0..3 while `code` is displayed."""
    return _row(code)[_S1 + segment]


def meaning(code):
    return _row(code)[_MEANING]
