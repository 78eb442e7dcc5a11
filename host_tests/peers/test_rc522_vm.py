"""The RC522 driver (firmware/drivers/rc522.py) in the MicroPython VM against the
register-level chip model of the virtual board (tools/vboard/vm/rc522_sim.py).

One VM run performs every case and prints what it observed as JSON; the tests below
check the observations. The chip model answers with its own CRC and ISO 14443-3 card
state machine, so a driver that skips HLTA, misframes REQA/WUPA, gets a cascade level
or a CRC wrong, or waits without a bound fails here.
"""
import pytest
from vmrun import result_line, run_on_inert_board

SCRIPT = r"""
import asyncio, gc, json, time
import machine, rc522_sim, vlink
from machine import Pin, SPI
from firmware.drivers import rc522
from firmware.drivers.rc522 import RC522

chip = rc522_sim.CHIP
out = {}
run = asyncio.run


def card(uid, slot=0):
    chip.cards[slot] = None if uid is None else rc522_sim.Card(bytes.fromhex(uid))


def read():
    n = run(r.read())
    return [n, bytes(r.uid[:n]).hex().upper() if n > 0 else None]


r = RC522(SPI(1), Pin(24, Pin.OUT, value=1), Pin(25, Pin.OUT, value=1))
resets = chip.resets
out["version"] = run(r.start(gain=6))
out["hard_reset"] = chip.resets - resets
out["regs"] = {"tmode": chip.regs[0x2A], "prescaler": chip.regs[0x2B],
               "reload": chip.regs[0x2C] << 8 | chip.regs[0x2D], "antenna": chip.regs[0x14] & 3,
               "rfcfg": chip.regs[0x26], "txask": chip.regs[0x15]}
r.set_gain(7)
out["gain7"] = chip.regs[0x26]

out["empty"] = read()
for uid in ("A1B2C3D4", "04112233445566", "04AABBCCDDEEFF001122"):
    card(uid)
    f0 = chip.frames
    first = read()
    out["read_" + uid] = {"first": first, "frames": chip.frames - f0, "sak": r.sak,
                          "state": chip.cards[0].state,
                          "again": [read() for _ in range(30)]}
    # halted: REQA is ignored, WUPA answers
    r.buf[0] = 0x26
    reqa = r._transceive(1, 7)
    r.buf[0] = 0x52
    wupa = r._transceive(1, 7)
    out["halt_" + uid] = [reqa, wupa, bytes(r.buf[:2]).hex()]
    r.buf[0] = 0x50  # leave it halted again (any other frame from READY: back to HALT)
    r.buf[1] = 0
    r._transceive(2, 0)
card(None)
out["removed"] = read()

card("A1B2C3D4")
card("A1B2C3D5", 1)
out["collision4"] = [read(), read()]
card("04112233445566")
card("04112233AABBCC", 1)  # same first level: they collide only at cascade level 2
out["collision7"] = read()
card(None, 1)
out["after_collision"] = [read(), read()]

card("A1B2C3D4")
chip.noise = vlink.NOISE_CRC
out["noise_crc"] = [read() for _ in range(4)]
chip.noise = vlink.NOISE_PARTIAL
out["noise_partial"] = [read() for _ in range(4)]
chip.noise = vlink.NOISE_NONE
out["clean_again"] = read()

chip.reset()  # brown-out: timer and antenna back to their reset values
out["brownout"] = read()
out["restart"] = [run(r.start()), read()]

chip.mode = vlink.READER_GARBAGE
out["garbage"] = [run(r.read()) for _ in range(200)]
out["garbage_start"] = run(r.start())
chip.mode = vlink.READER_DEAD
out["dead"] = [run(r.read()), run(r.start()), run(r.read())]
chip.mode = vlink.READER_OK
out["back"] = [run(r.start()), read()]
out["busy_us_max"] = r.busy_us_max

# no reset pin (the ESP32 board): soft reset over SPI
soft = RC522(SPI(1), Pin(24, Pin.OUT, value=1))
resets = chip.resets
out["soft"] = [run(soft.start()), chip.resets - resets, soft.version]

# CRC_A: the driver's against the model's and the standard's examples
out["crc"] = [rc522._crc(b"\x00\x00", 2), rc522_sim.crc_a(b"\x00\x00"),
              rc522._crc(b"\x50\x00", 2), rc522_sim.crc_a(b"\x50\x00"),
              rc522._crc(b"\x93\x70\x88\x04\x11\x22\x3f", 7),
              rc522_sim.crc_a(b"\x93\x70\x88\x04\x11\x22\x3f")]


# register access allocates nothing (a bus and pins that allocate nothing either)
class Bus:
    def write(self, b):
        pass

    def write_readinto(self, w, rb):
        rb[1] = 0x92


def pin(v):
    pass


q = RC522(Bus(), pin)
q._rd(0x37)
q._wr(0x01, 0)


def alloc(n, work):
    gc.collect()
    gc.disable()
    a0 = gc.mem_alloc()
    for i in range(n):
        if work:
            q._wr(0x09, i & 0xFF)
            q._rd(0x37)
    a1 = gc.mem_alloc()
    gc.enable()
    return a1 - a0


out["alloc"] = [alloc(1000, False), alloc(1000, True), alloc(5000, True)]
print("RESULT " + json.dumps(out))
"""


@pytest.fixture(scope="module")
def seen(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rc522")
    return result_line(run_on_inert_board(tmp, SCRIPT))


def test_start_checks_the_version_and_configures_the_chip(seen):
    assert seen["version"] == 0x92
    assert seen["hard_reset"] == 1  # through the reset pin
    regs = seen["regs"]
    assert regs["tmode"] & 0x80  # the timer bounds every wait for an answer
    assert regs["prescaler"] == 67 and 50 <= regs["reload"] <= 400  # ~0.5..4 ms
    assert regs["antenna"] == 3 and regs["txask"] == 0x40
    assert regs["rfcfg"] == 6 << 4 and seen["gain7"] == 7 << 4


def test_soft_reset_when_the_board_has_no_reset_pin(seen):
    version, resets, kept = seen["soft"]
    assert version == 0x92 and resets == 1 and kept == 0x92


@pytest.mark.parametrize("uid, frames", [("A1B2C3D4", 4), ("04112233445566", 6),
                                         ("04AABBCCDDEEFF001122", 8)])
def test_uids_of_every_size_read_correctly(seen, uid, frames):
    got = seen["read_" + uid]
    assert got["first"] == [len(uid) // 2, uid]
    assert got["frames"] == frames  # WUPA, anticollision + SELECT per level, HLTA
    assert got["sak"] == 0x08 and got["state"] == 3  # selected, then halted


@pytest.mark.parametrize("uid", ["A1B2C3D4", "04112233445566", "04AABBCCDDEEFF001122"])
def test_a_card_left_on_the_reader_reads_the_same_every_poll(seen, uid):
    again = seen["read_" + uid]["again"]
    assert again == [[len(uid) // 2, uid]] * 30  # never a gap that would make a new tap


@pytest.mark.parametrize("uid", ["A1B2C3D4", "04112233445566", "04AABBCCDDEEFF001122"])
def test_a_halted_card_ignores_reqa_and_answers_wupa(seen, uid):
    reqa, wupa, atqa = seen["halt_" + uid]
    assert reqa == -4 and wupa == 2  # -4: nobody answered
    assert atqa == {4: "0400", 7: "4400", 10: "8400"}[len(uid) // 2]


def test_an_empty_field_reads_nothing(seen):
    assert seen["empty"] == [0, None] and seen["removed"] == [0, None]


def test_two_cards_are_reported_as_a_collision(seen):
    assert seen["collision4"] == [[-1, None], [-1, None]]
    assert seen["collision7"] == [-1, None]  # at cascade level 2
    first, second = seen["after_collision"]
    assert second == [7, "04112233445566"]  # one card left: read normally


def test_bad_crc_and_partial_frames_never_give_a_uid(seen):
    for n, uid in seen["noise_crc"] + seen["noise_partial"]:
        assert n == -2 and uid is None
    assert seen["clean_again"] == [4, "A1B2C3D4"]


def test_a_reader_that_reset_itself_is_detected_and_recovers(seen):
    assert seen["brownout"] == [-3, None]  # no timer interrupt: reported, bounded wait
    assert seen["restart"] == [0x92, [4, "A1B2C3D4"]]


def test_garbage_from_a_failing_reader_never_gives_a_uid(seen):
    assert all(n <= 0 for n in seen["garbage"])
    assert seen["garbage"].count(-3) > 150
    assert seen["garbage_start"] == 0


def test_a_dead_reader_fails_its_self_check_and_comes_back(seen):
    assert seen["dead"] == [-3, 0, -3]
    assert seen["back"] == [0x92, [4, "A1B2C3D4"]]


def test_crc_a_matches_the_standard_and_the_model(seen):
    c = seen["crc"]
    assert c[0] == c[1] == 0x1EA0 and c[2] == c[3] == 0xCD57 and c[4] == c[5]


def test_register_access_allocates_nothing(seen):
    loop, thousand, five_thousand = seen["alloc"]  # the loop itself costs a little
    assert thousand == loop and five_thousand == loop


def test_the_longest_stretch_without_yielding_is_measured(seen):
    assert seen["busy_us_max"] > 0
