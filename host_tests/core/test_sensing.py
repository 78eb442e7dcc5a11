from firmware.core.sensing import Smoother, dip_from_bits, dip_from_ladder, scale


def test_scale():
    assert scale(32768, 32768, 26400, 65535) == 0
    assert scale(65535, 32768, 26400, 65535) == 13199
    assert scale(0, 32768, 26400, 65535) == -13201  # floored


def test_smoother_converges_and_starts_at_first_value():
    s = Smoother(2)
    assert s.update(2300) == 2300
    for _ in range(40):
        s.update(2000)
    assert abs(s.value - 2000) <= 4


def test_dip_bits():
    assert dip_from_bits((False, False, False, False)) == 0
    assert dip_from_bits([True, False, False, True]) == 9
    assert dip_from_bits((True, True, True, True)) == 15


def test_dip_ladder_tolerates_a_third_of_a_step():
    step = 65535 / 15
    for code in range(16):
        for err in (-0.3, 0.0, 0.3):
            raw = int(code * step + err * step)
            raw = max(0, min(65535, raw))
            assert dip_from_ladder(raw) == code
