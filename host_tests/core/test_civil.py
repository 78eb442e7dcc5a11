from firmware.core.civil import days, from_unix


def test_days_since_the_epoch_of_known_dates():
    # the expected values are CPython's date arithmetic (date(*d) - date(1970, 1, 1))
    for d, n in (((1970, 1, 1), 0), ((1969, 12, 31), -1), ((2000, 2, 29), 11016),
                 ((2000, 3, 1), 11017), ((2026, 12, 3), 20790), ((2100, 3, 1), 47541),
                 ((1600, 1, 1), -135140)):
        assert days(*d) == n, d


def test_consecutive_dates_are_one_day_apart_across_month_and_leap_year_ends():
    lengths = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # 2024, a leap year
    n = days(2024, 1, 1)
    for m, length in enumerate(lengths, 1):
        for d in range(1, length + 1):
            assert days(2024, m, d) == n
            n += 1
    assert days(2025, 1, 1) == n
    assert days(2100, 3, 1) - days(2100, 2, 28) == 1  # 2100 is no leap year


def test_weekday():
    assert from_unix(1795780800)[6] == 4  # 2026-11-27 is a Friday
    assert from_unix(0)[6] == 3  # 1970-01-01 was a Thursday


def test_from_unix_is_the_inverse_of_days():
    for y, m, d in ((1970, 1, 1), (2000, 2, 29), (2026, 12, 3), (2099, 12, 31)):
        assert from_unix(days(y, m, d) * 86400 + 3723)[:6] == (y, m, d, 1, 2, 3)
