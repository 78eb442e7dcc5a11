"""The status LED and indicators as the manual describes them, for every state."""
from firmware.core import charger as ch
from firmware.core import faults, front
from firmware.core.faults import BLUE, GREEN, OFF, ORANGE, RED, WHITE
from firmware.core.ticks import ticks_add
from rig import Rig

ON_MS = 100  # a moment when every blink pattern is lit
OFF_MS = 1900  # a moment when slow, flash and fault-code blinks are all dark


def show(rig, indicators=None, at=ON_MS):
    out = bytearray(front.COUNT)
    # `at` is a phase within the 2 s blink cycle, in the next cycle after the rig's clock
    now = ticks_add(rig.now, 2000 - rig.now % 2000 + at)
    front.render(rig.c, indicators or front.Front(), now, out)
    return list(out)


def seg(rig, indicators=None, at=ON_MS):
    return show(rig, indicators, at)[:4]


def test_idle_is_blue_and_the_mode_indicator_blue():
    r = Rig().run(1500)
    out = show(r)
    assert out[:4] == [BLUE] * 4
    assert out[front.MODE] == BLUE  # module ready, no vehicle


def test_self_test_is_orange_then_blue_then_flashing_blue():
    r = Rig()
    r.car = "B"
    r.run(1100)
    assert seg(r) == [ORANGE] * 4
    r.until(lambda r: r.c.phase == ch.READY, 5000)
    assert seg(r) == [BLUE] * 4 and seg(r, at=OFF_MS) == [BLUE] * 4
    r.car = "C"
    r.run(50)
    assert seg(r) == [BLUE] * 4 and seg(r, at=700) == [OFF] * 4  # flashing
    assert show(r)[front.MODE] == GREEN  # immediate charging


def test_every_fault_shows_its_code_blinking():
    for code in (faults.IMPERMISSIBLE_LOAD, faults.NO_OUTPUT_VOLTAGE, faults.OVERCURRENT,
                 faults.RESIDUAL_CURRENT, faults.MAINS_VOLTAGE, faults.UNPLUGGED):
        r = Rig().charge()
        r.c._raise(code, r.now)
        assert seg(r) == [faults.color(code, i) for i in range(4)], code
        assert seg(r, at=OFF_MS) == [OFF] * 4


def test_temperature_shows_code_then_s3_s4_slow_orange():
    r = Rig().charge()
    r.temp_dc = 800
    r.tick()
    assert seg(r) == [WHITE, WHITE, ORANGE, ORANGE]
    r.run(5100)
    assert seg(r) == [OFF, OFF, ORANGE, ORANGE]
    assert seg(r, at=1500) == [OFF] * 4


def test_permanent_red_for_welded_relay_and_earth():
    r = Rig().run(1500)
    r.pe_ok = False
    r.tick()
    assert seg(r) == [RED] * 4 and seg(r, at=OFF_MS) == [RED] * 4


def test_meter_lost_overlay_s1_s2_slow_orange():
    r = Rig().charge()
    ind = front.Front()
    ind.meter_lost = True
    assert seg(r, ind) == [ORANGE, ORANGE, BLUE, BLUE]
    assert seg(r, ind, at=1500)[:2] == [OFF, OFF]


def test_update_all_four_slow_orange():
    r = Rig().run(1500)
    r.c.updating = True
    r.tick()
    assert seg(r) == [ORANGE] * 4 and seg(r, at=1500) == [OFF] * 4


def test_commissioning_s2_s3_orange():
    r = Rig().run(1500)
    r.c.service_mode = True
    r.tick()
    assert seg(r) == [OFF, ORANGE, ORANGE, OFF]


def test_suppressed_until_authorized():
    r = Rig().run(1500)
    r.c.authorized = False
    assert seg(r) == [OFF] * 4
    r.c.authorized = True
    assert seg(r) == [BLUE] * 4


def test_indicator_patterns():
    r = Rig().charge()
    ind = front.Front()
    ind.online = GREEN | front.FLASH
    ind.rfid = WHITE | front.SLOW
    ind.frame = WHITE | front.SLOW
    ind.touch = WHITE
    ind.charge_mode = front.WAITING_SCHEDULE
    on = show(r, ind)
    assert on[front.ONLINE] == GREEN and on[front.RFID] == WHITE
    assert on[front.FRAME] == WHITE and on[front.TOUCH] == WHITE and on[front.MODE] == WHITE
    off = show(r, ind, at=OFF_MS)
    assert off[front.ONLINE] == OFF and off[front.RFID] == OFF and off[front.MODE] == OFF
    assert off[front.TOUCH] == WHITE  # steady
    ind.charge_mode = front.INTELLIGENT
    assert show(r, ind, at=OFF_MS)[front.MODE] == WHITE
