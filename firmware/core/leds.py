"""What the front shows: the 4-segment status LED and the indicators, as a pure function
of the charger and of the indicator state the services set.

Output is one colour id per LED (see colors.py) in a caller-owned bytearray; blinking is
resolved here from `now`, so the driver only writes when a colour actually changes.
"""
from micropython import const

from firmware.core import charger as ch
from firmware.core import faults
from firmware.core.colors import BLUE, GREEN, OFF, ORANGE, RED, WHITE

# LED positions on the chain
S1 = const(0)
S4 = const(3)
ONLINE = const(4)  # online connection indicator
MODE = const(5)  # charging mode indicator
RFID = const(6)  # RFID status indicator
FRAME = const(7)  # frame of the RFID read area
TOUCH = const(8)  # capacitive touch button light
COUNT = const(9)
LED_NAMES = ("S1", "S2", "S3", "S4", "online", "mode", "rfid", "frame", "touch")

# Patterns: colour | blink. Slow flash = 1 s on / 1 s off; flash = 0.5 s / 0.5 s.
STEADY = const(0)
SLOW = const(0x10)
FLASH = const(0x20)
_CODE_BLINK = const(0x30)  # fault code: 1.5 s on / 0.5 s off

# Charging modes shown on the mode indicator (the backend service sets them)
IMMEDIATE = const(0)
INTELLIGENT = const(1)
WAITING_SCHEDULE = const(2)
MODULE_FAULT = const(3)

FAULT_CODE_MS = const(5000)  # fault 3: show the code this long, then S3+S4 slow orange


class Front:
    """Indicator state owned by the services (authorization, backend, meters)."""

    def __init__(self):
        self.online = OFF  # pattern, set by the backend service
        self.rfid = OFF  # pattern, set by the authorization service
        self.frame = OFF
        self.touch = OFF
        self.charge_mode = IMMEDIATE
        self.meter_lost = False  # domestic meter lost: S1+S2 slow orange


def _lit(pattern, now):
    blink = pattern & 0xF0
    if blink == STEADY:
        return pattern
    if blink == SLOW:
        on = now % 2000 < 1000
    elif blink == FLASH:
        on = now % 1000 < 500
    else:
        on = now % 2000 < 1500
    return pattern & 0x0F if on else OFF


def _fill(out, first, last, pattern, now):
    c = _lit(pattern, now)
    for i in range(first, last + 1):
        out[i] = c


def render(c, front, now, out):
    """Write the colour of every LED at time `now` into `out` (bytearray(COUNT))."""
    ph = c.phase
    if ph == ch.PERMANENT:
        _fill(out, 0, 3, RED, now)  # "permanent red": cannot switch the output off
    elif c.updating:
        _fill(out, 0, 3, ORANGE | SLOW, now)
    elif ph == ch.FAULT:
        code = c.fault
        if code == faults.OVER_TEMPERATURE and c.phase_ms(now) >= FAULT_CODE_MS:
            _fill(out, 0, 1, OFF, now)
            _fill(out, 2, 3, ORANGE | SLOW, now)
        else:
            for i in range(4):
                out[i] = _lit(faults.color(code, i) | _CODE_BLINK, now)
    elif c.service_mode:
        _fill(out, 0, 3, OFF, now)
        _fill(out, 1, 2, ORANGE, now)  # commissioning mode: S2+S3 orange
    elif ph == ch.SELFTEST or ph == ch.BOOT:
        _fill(out, 0, 3, ORANGE, now)
    elif not c.authorized and ph != ch.CHARGING and ph != ch.SUSPENDED:
        _fill(out, 0, 3, OFF, now)  # suppressed until authorized
    elif ph == ch.CHARGING:
        _fill(out, 0, 3, BLUE | FLASH, now)
    else:
        _fill(out, 0, 3, BLUE, now)
    if front.meter_lost and ph != ch.PERMANENT and ph != ch.FAULT and not c.updating:
        _fill(out, 0, 1, ORANGE | SLOW, now)

    out[ONLINE] = _lit(front.online, now)
    if c.phase == ch.IDLE or c.phase == ch.BOOT:
        mode = BLUE  # module ready, no vehicle
    elif front.charge_mode == INTELLIGENT:
        mode = WHITE
    elif front.charge_mode == WAITING_SCHEDULE:
        mode = WHITE | FLASH
    elif front.charge_mode == MODULE_FAULT:
        mode = ORANGE
    else:
        mode = GREEN
    out[MODE] = _lit(mode, now)
    out[RFID] = _lit(front.rfid, now)
    out[FRAME] = _lit(front.frame, now)
    out[TOUCH] = _lit(front.touch, now)
