from firmware.core.sensing import Smoother, dip_from_bits, dip_from_ladder, scale


def test_scale():
    assert scale(32768, 32768, 26400, 65535) == 0
    assert scale(65535, 32768, 26400, 65535) == 13200  # 13199.6
    assert scale(0, 32768, 26400, 65535) == -13200  # -13200.4


def test_a_current_reads_back_as_itself():
    """Issue 13.7: an ADC gives the step below the signal (floor); the scaling then must
    not floor again, or 7.0 A reads 6.9 A. Every 0.1 A step of the CT range, both ways
    of converting (floor and nearest), reads back exactly."""
    num, den = 1000, 65535  # the boards' CT_DA_NUM / CT_DA_DEN: 0..100 A
    for da in range(0, 1000):
        assert scale(da * den // num, 0, num, den) == da
        assert scale((da * den + num // 2) // num, 0, num, den) == da


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
