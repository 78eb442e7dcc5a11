"""Meter models: parsing, request plans and decoding into the firmware's units.

Register images are built here from the meters' datasheets (standards.md), so a wrong
address or scale in a model text fails. Runs on CPython and in the MicroPython VM.
"""
import struct

import pytest

from firmware.core import meters
from firmware.core import settings
from firmware.core.meters import FIELDS, Plan


def f32(x):
    b = struct.pack(">f", x)
    return [b[0] << 8 | b[1], b[2] << 8 | b[3]]


def i32(x, lo=False):
    b = struct.pack(">i", x)
    w = [b[0] << 8 | b[1], b[2] << 8 | b[3]]
    return w[::-1] if lo else w


def u64(x):
    b = struct.pack(">Q", x)
    return [b[k] << 8 | b[k + 1] for k in range(0, 8, 2)]


def image(words_at):
    """{register: [words]} -> {register: word}"""
    regs = {}
    for r in words_at:
        for k, w in enumerate(words_at[r]):
            regs[r + k] = w
    return regs


def response_bytes(plan, regs):
    """What a poll gathers: each block's registers, big-endian, blocks one after another."""
    out = bytearray()
    for start, count in plan.blocks:
        for r in range(start, start + count):
            w = regs.get(r, 0)
            out.append(w >> 8)
            out.append(w & 255)
    return out


def decode(model, regs):
    p = meters.plan(model)
    assert len(response_bytes(p, regs)) == p.nbytes
    return dict(zip(FIELDS, p.decode(response_bytes(p, regs), [0] * 12)))


@pytest.mark.parametrize("model", ["sdm630", "sdm72", "sdm120", "sdm230", "b23", "b24",
                                   "em330", "em340"])
def test_every_model_parses_into_legal_requests(model):
    p = meters.plan(model)
    assert p.fc in (3, 4)
    assert p.blocks
    for start, count in p.blocks:
        assert 0 < count <= 125 and 0 <= start <= 0xFFFF
    assert p.offsets[FIELDS.index("i1")] >= 0  # every model gives a current


def test_sdm630_reads_three_blocks_of_input_registers():
    p = meters.plan("sdm630")
    assert p.fc == 4 and not p.lo
    assert p.blocks == [(0x00, 18), (0x34, 2), (0x48, 4)]


def test_sdm630_decodes_float_registers():
    regs = image({0x00: f32(230.04), 0x02: f32(231.5), 0x04: f32(229.96),
                  0x06: f32(12.34), 0x08: f32(0.04), 0x0A: f32(16.0),
                  0x0C: f32(2838.7), 0x0E: f32(-9.4), 0x10: f32(3680.0),
                  0x34: f32(6509.3), 0x48: f32(1234.5678), 0x4A: f32(0.25)})
    v = decode("sdm630", regs)
    assert (v["v1"], v["v2"], v["v3"]) == (2300, 2315, 2300)  # 0.1 V
    assert (v["i1"], v["i2"], v["i3"]) == (123, 0, 160)  # 0.1 A
    assert (v["p1"], v["p2"], v["p3"], v["pt"]) == (2839, -9, 3680, 6509)  # W
    assert v["ei"] == 1234568 and v["ee"] == 250  # Wh


def test_sdm120_is_single_phase():
    regs = image({0x00: f32(229.0), 0x06: f32(8.0), 0x0C: f32(-1800.0),
                  0x48: f32(10.0), 0x4A: f32(2.5)})
    v = decode("sdm120", regs)
    assert v["v1"] == 2290 and v["i1"] == 80 and v["p1"] == -1800 and v["pt"] == -1800
    assert v["v2"] is None and v["i3"] is None and v["p2"] is None
    assert v["ei"] == 10000 and v["ee"] == 2500


def test_abb_b23_holding_registers_unsigned_signed_and_64_bit():
    p = meters.plan("b23")
    assert p.fc == 3
    regs = image({0x5B00: i32(2301), 0x5B02: i32(2299), 0x5B04: i32(2310),
                  0x5B0C: i32(1234), 0x5B0E: i32(5), 0x5B10: i32(3205),
                  0x5B14: i32(-150000), 0x5B16: i32(-50000), 0x5B18: i32(-50000),
                  0x5B1A: i32(-50000), 0x5000: u64(123456789), 0x5004: u64(7)})
    v = decode("b23", regs)
    assert (v["v1"], v["v2"], v["v3"]) == (2301, 2299, 2310)
    assert (v["i1"], v["i2"], v["i3"]) == (123, 1, 321)  # 0.01 A -> 0.1 A, rounded
    assert v["pt"] == -1500 and v["p1"] == -500
    assert v["ei"] == 12345678900 // 10 and v["ee"] == 70  # 0.01 kWh -> Wh


def test_carlo_gavazzi_low_word_first():
    p = meters.plan("em340")
    assert p.lo and p.fc == 4
    regs = image({0x00: i32(2305, True), 0x02: i32(2311, True), 0x04: i32(2290, True),
                  0x0C: i32(12345, True), 0x0E: i32(70000, True), 0x10: i32(49, True),
                  0x12: i32(28450, True), 0x14: i32(-160000, True), 0x16: i32(0, True),
                  0x28: i32(-131550, True), 0x34: i32(98765, True), 0x4E: i32(12, True)})
    v = decode("em340", regs)
    assert (v["v1"], v["v2"], v["v3"]) == (2305, 2311, 2290)
    assert (v["i1"], v["i2"], v["i3"]) == (123, 700, 0)  # mA -> 0.1 A
    assert (v["p1"], v["p2"], v["pt"]) == (2845, -16000, -13155)
    assert v["ei"] == 9876500 and v["ee"] == 1200


def test_nan_and_infinity_give_no_value():
    nan = [0x7FC0, 0x0000]
    inf = [0x7F80, 0x0000]
    regs = image({0x00: nan, 0x06: inf, 0x0C: f32(1.0)})
    v = decode("sdm630", regs)
    assert v["v1"] is None and v["i1"] is None and v["p1"] == 1


def test_rounding_halves_away_from_zero():
    regs = image({0x5B0C: i32(1235), 0x5B14: i32(-250), 0x5B16: i32(-249)})
    v = decode("b23", regs)
    assert v["i1"] == 124  # 12.35 A
    assert v["pt"] == -3 and v["p1"] == -2  # -2.50 W, -2.49 W


def test_custom_model_in_the_installers_notation():
    p = Plan("fc3 lo v=100:u16:-1 i=0x10,0x12,0x14:s32:-3 pt=200:s32:0 ei=300:u32:-2")
    assert p.fc == 3 and p.lo
    assert p.blocks == [(0x10, 6), (100, 1), (200, 2), (300, 2)]  # by register
    regs = image({100: [2302], 0x10: i32(12345, True),
                  0x12: i32(0, True), 0x14: i32(999, True), 200: i32(-42, True),
                  300: i32(100, True)})
    v = dict(zip(FIELDS, p.decode(response_bytes(p, regs), [0] * 12)))
    assert v["v1"] == 2302 and v["v2"] is None
    assert (v["i1"], v["i2"], v["i3"]) == (123, 0, 10)
    assert v["pt"] == -42 and v["ei"] == 1000 and v["p1"] is None


@pytest.mark.parametrize("spec", [
    "", "fc4", "fc4 v=0:f64:0", "fc4 x=0:f32:0", "fc4 v=0,2,4,6:f32:0", "fc4 pt=0,2:f32:0",
    "fc4 v=0", "fc4 v=zero:f32:0", "fc4 v=0:f32:9", "fc4 v=70000:f32:0", "fc4 v=0:f32"])
def test_bad_custom_models_are_refused_with_a_clear_error(spec):
    with pytest.raises(ValueError, match="bad meter model"):
        Plan(spec)


def test_blocks_never_exceed_125_registers():
    regs = ",".join(str(r) for r in (0, 60, 120))
    p = Plan("fc4 v=%s:u32:0 i=124,126,128:u32:0" % regs)
    for start, count in p.blocks:
        assert count <= 125
    assert p.nbytes == 2 * sum(c for _, c in p.blocks)


@pytest.mark.parametrize("value,ok", [
    ("", True), ("192.168.1.20", True), ("127.0.0.1", True), ("10.0.0.255", True),
    ("256.1.1.1", False), ("1.2.3", False), ("1.2.3.4.5", False), ("a.b.c.d", False),
    ("meter.local", False), (" 1.2.3.4", False), ("1.2.3.0004", False), (5, False)])
def test_meter_address_setting_takes_ipv4_only(value, ok):
    settings.SCHEMA["test.host"] = (settings.HOST, "", None, None)
    try:
        if ok:
            assert settings.check("test.host", value) == value
        else:
            with pytest.raises(ValueError, match="IPv4"):
                settings.check("test.host", value)
    finally:
        del settings.SCHEMA["test.host"]
