"""The user interface of the box as pure logic: what the 4-segment status LED and the
indicators show (a function of the charger and of the indicator state the services
set), the buzzer's sounds, and the timing of the service and touch buttons.

LED output is one colour id per LED in a caller-owned bytearray; blinking is resolved
here from `now`, so the driver only writes when a colour actually changes.
"""
from micropython import const

from firmware.core import charger as ch
from firmware.core import faults
from firmware.core.faults import BLUE, GREEN, OFF, ORANGE, RED, WHITE
from firmware.core.ticks import ticks_diff

# LED positions on the chain: the status segments S1..S4 (left to right), then indicators
_S1 = const(0)
_S2 = const(1)
_S3 = const(2)
_S4 = const(3)
ONLINE = const(4)  # online connection indicator
MODE = const(5)  # charging mode indicator
RFID = const(6)  # RFID status indicator
FRAME = const(7)  # frame of the RFID read area
TOUCH = const(8)  # capacitive touch button light
COUNT = const(9)

# Patterns: colour | blink. Slow flash = 1 s on / 1 s off; flash = 0.5 s / 0.5 s.
_COLOUR = const(0x0F)  # the pattern's colour id bits
_BLINK = const(0xF0)  # its blink bits
_STEADY = const(0)
SLOW = const(0x10)
FLASH = const(0x20)
_CODE_BLINK = const(0x30)  # fault code: 1.5 s on / 0.5 s off

# Charging modes shown on the mode indicator (the backend service sets them)
IMMEDIATE = const(0)
INTELLIGENT = const(1)
WAITING_SCHEDULE = const(2)
MODULE_FAULT = const(3)

_FAULT_CODE_MS = const(5000)  # fault 3: show the code this long, then S3+S4 slow orange


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
    blink = pattern & _BLINK
    if blink == _STEADY:
        return pattern
    if blink == SLOW:
        on = now % 2000 < 1000
    elif blink == FLASH:
        on = now % 1000 < 500
    else:
        on = now % 2000 < 1500
    return pattern & _COLOUR if on else OFF


def _fill(out, first, last, pattern, now):
    c = _lit(pattern, now)
    for i in range(first, last + 1):
        out[i] = c


def render(c, front, now, out):
    """Write the colour of every LED at time `now` into `out` (bytearray(COUNT))."""
    ph = c.phase
    if ph == ch.PERMANENT:
        _fill(out, _S1, _S4, RED, now)  # "permanent red": cannot switch the output off
    elif c.updating:
        _fill(out, _S1, _S4, ORANGE | SLOW, now)
    elif ph == ch.FAULT:
        code = c.fault
        if code == faults.OVER_TEMPERATURE and c.phase_ms(now) >= _FAULT_CODE_MS:
            _fill(out, _S1, _S2, OFF, now)
            _fill(out, _S3, _S4, ORANGE | SLOW, now)
        else:
            for i in range(_S1, _S4 + 1):
                out[i] = _lit(faults.color(code, i - _S1) | _CODE_BLINK, now)
    elif c.service_mode:
        _fill(out, _S1, _S4, OFF, now)
        _fill(out, _S2, _S3, ORANGE, now)  # commissioning mode: S2+S3 orange
    elif ph == ch.SELFTEST or ph == ch.BOOT:
        _fill(out, _S1, _S4, ORANGE, now)
    elif not c.authorized and ph != ch.CHARGING and ph != ch.SUSPENDED:
        _fill(out, _S1, _S4, OFF, now)  # suppressed until authorized
    elif ph == ch.CHARGING:
        _fill(out, _S1, _S4, BLUE | FLASH, now)
    else:
        _fill(out, _S1, _S4, BLUE, now)
    if front.meter_lost and ph != ch.PERMANENT and ph != ch.FAULT and not c.updating:
        _fill(out, _S1, _S2, ORANGE | SLOW, now)

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


# ---------------------------------------------------------------------------- sounds
# Tone sequences: (frequency Hz, duration ms) pairs; frequency 0 is a pause.
BEEP = ((2000, 150),)  # service button: first signal tone
SECOND_BEEP = ((2000, 150), (0, 100), (2000, 150))  # second signal tone
RISING = ((1000, 100), (1500, 100), (2000, 150))  # authorization successful
FALLING = ((2000, 100), (1500, 100), (1000, 150))  # authorization unsuccessful


# --------------------------------------------------------------------------- buttons
# The service button: ~2 s gives the first tone (release then: restart); ~6 s gives the
# second tone (release then: delete all cards, then restart). The touch button reports
# short presses.
NOTHING = const(0)
PRESSED = const(1)  # debounced press
FIRST_TONE = const(2)  # held past the first threshold
SECOND_TONE = const(3)  # held past the second threshold
RELEASED_SHORT = const(4)  # released before the first threshold
RELEASED_FIRST = const(5)  # released between the thresholds
RELEASED_SECOND = const(6)  # released after the second threshold

_DEBOUNCE_MS = const(30)


class HoldButton:
    def __init__(self, now, first_ms=2000, second_ms=6000):
        self.first_ms = first_ms
        self.second_ms = second_ms
        self.down = False
        self._raw = False
        self._raw_at = now
        self._down_at = now
        self._stage = 0  # 0 = none, 1 = first tone given, 2 = second tone given

    def update(self, pressed, now):
        """Feed the raw input level; returns one event."""
        if pressed != self._raw:
            self._raw = pressed
            self._raw_at = now
        if pressed != self.down and ticks_diff(now, self._raw_at) >= _DEBOUNCE_MS:
            self.down = pressed
            if pressed:
                self._down_at = now
                self._stage = 0
                return PRESSED
            stage = self._stage
            self._stage = 0
            return RELEASED_SECOND if stage == 2 else RELEASED_FIRST if stage == 1 \
                else RELEASED_SHORT
        if self.down:
            held = ticks_diff(now, self._down_at)
            if self._stage == 0 and held >= self.first_ms:
                self._stage = 1
                return FIRST_TONE
            if self._stage == 1 and held >= self.second_ms:
                self._stage = 2
                return SECOND_TONE
        return NOTHING
