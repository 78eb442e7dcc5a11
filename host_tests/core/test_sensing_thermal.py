from firmware.core.sensing import NO_READING, derate_da, ntc_dc, ntc_table

TABLE = ntc_table(3950, 10000, 10000)


def raw_for(t_c):
    import math
    r = 10000 * math.exp(3950 * (1 / (t_c + 273.15) - 1 / 298.15))
    return int(65535 * r / (r + 10000))


def test_ntc_conversion_within_half_a_degree():
    for t in (-30, -5, 0, 12, 25, 40, 55, 60, 65, 70, 75, 90, 120):
        got = ntc_dc(raw_for(t), TABLE)
        assert abs(got - t * 10) <= 5, (t, got)


def test_open_or_shorted_sensor():
    assert ntc_dc(65535, TABLE) == NO_READING
    assert ntc_dc(0, TABLE) == NO_READING


def test_derating_is_linear_and_bounded():
    assert derate_da(500, 600, 750, 320) == 320
    assert derate_da(600, 600, 750, 320) == 320
    assert derate_da(750, 600, 750, 320) == 60
    assert derate_da(900, 600, 750, 320) == 60
    mid = derate_da(675, 600, 750, 320)
    assert mid == 190
    prev = 400
    for t in range(600, 760, 5):
        d = derate_da(t, 600, 750, 320)
        assert d <= prev
        prev = d
