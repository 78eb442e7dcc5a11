import pytest

from firmware.core import settings


def test_defaults_are_valid():
    d = settings.defaults()
    clean, errors = settings.validate(d)
    assert errors == {}
    assert clean == d


@pytest.mark.parametrize("key, value, reason", [
    ("charging.max_current_a", 5, "between 6 and 80"),
    ("charging.max_current_a", "x", "whole number"),
    ("charging.max_current_a", True, "whole number"),
    ("charging.phases", 2, "one of 1, 3"),
    ("device.showroom", "yes", "true or false"),
    ("no.such.key", 1, "unknown setting"),
])
def test_bad_values_are_refused_with_a_reason(key, value, reason):
    with pytest.raises(ValueError, match=reason):
        settings.check(key, value)


def test_numeric_text_is_accepted():
    assert settings.check("charging.max_current_a", "16") == 16


def test_merge_drops_invalid_and_reports():
    cfg, errors = settings.merge({"charging.max_current_a": 100, "charging.cable_a": 20})
    assert cfg["charging.max_current_a"] == 32
    assert cfg["charging.cable_a"] == 20
    assert list(errors) == ["charging.max_current_a"]


def test_merge_of_garbage():
    cfg, errors = settings.merge([1, 2])
    assert cfg == settings.defaults()


def test_extend_refuses_duplicates():
    with pytest.raises(ValueError):
        settings.extend({"charging.cable_a": (settings.INT, 1, 1, 2, "")})


def test_planning_tables_and_feed_address_are_checked():
    from firmware.core import settings as s
    assert s.check("plan.tariff", "* 22-06 0.18; * 06-22 0.30") == "* 22-06 0.18; * 06-22 0.30"
    assert s.check("plan.windows", "") == ""
    for key, bad in (("plan.tariff", "* 22-06"), ("plan.windows", "xx 1-2"),
                     ("price.url", "ftp://x/p"), ("price.url", "http://")):
        try:
            s.check(key, bad)
        except ValueError as e:
            assert str(e)
        else:
            raise AssertionError(key + " accepted " + bad)
    assert s.check("price.url", "https://prices.example/today.json")
