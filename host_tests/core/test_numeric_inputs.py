"""Hostile numbers in the settings and in the central system's CALLs: infinities, NaN,
1e308, -0.0, huge integers, numbers as text, nulls, lists, objects. Each is refused
with a reason or accepted as a value of the setting's own type, never an exception
of another kind (an OverflowError becomes an HTTP 500 or a dropped OCPP message)."""
import pytest

from firmware.core import ocpp_calls, settings
from firmware.core.ocpp import CallError

INF = float("inf")
NAN = float("nan")
HOSTILE = [INF, -INF, NAN, 1e308, -1e308, -0.0, 0.5, 16.0, 3.0, 10 ** 400, -10 ** 400,
           2 ** 64, "1" * 400, "16.5", "1e308", "nan", "inf", "--5", "+-3", "-", "",
           " ", None, [], [16], {}, {"a": 1}, True, False]
KINDS = (settings.INT, settings.BOOL, settings.STR, settings.CHOICE, settings.HOST,
         settings.URL, settings.KEY, settings.NAME)


def _types_match(value, default):
    return type(value) is type(default)


@pytest.mark.parametrize("key", sorted(settings.SCHEMA))
def test_every_setting_refuses_hostile_values_cleanly(key):
    kind, default, lo, hi = settings.SCHEMA[key]
    for v in HOSTILE:
        try:
            got = settings.check(key, v)
        except ValueError as e:
            assert str(e), (key, v)
            continue
        assert _types_match(got, default), (key, v, got)
        if kind == settings.INT:
            assert lo <= got <= hi, (key, v, got)
        if kind == settings.CHOICE:
            assert got in lo, (key, v, got)


def test_a_choice_keeps_the_type_of_its_values():
    # 3.0 == 3 and True == 1 in Python: both used to be stored as the phase count
    for v in (3.0, True, 1.0, [3]):
        with pytest.raises(ValueError):
            settings.check("charging.phases", v)
    assert settings.check("charging.phases", 3) == 3


@pytest.mark.parametrize("text, n", [("16", 16), (" 16 ", 16), ("-5", -5), ("007", 7)])
def test_whole_numbers_as_text_are_accepted(text, n):
    settings.SCHEMA["test.n"] = (settings.INT, 0, -10, 20)
    try:
        assert settings.check("test.n", text) == n
    finally:
        del settings.SCHEMA["test.n"]


@pytest.mark.parametrize("text", ["--5", "+-3", "-", "1 6", "16.0", "1e3", "0x10", ""])
def test_other_text_is_not_a_whole_number(text):
    with pytest.raises(ValueError, match="whole number"):
        settings.check("charging.max_current_a", text)


def test_validate_reports_every_hostile_value_by_key():
    changes = {"charging.max_current_a": INF, "charging.cable_a": 10 ** 400,
               "charging.phases": NAN, "charging.retry_delay_s": -0.0}
    clean, errors = settings.validate(changes)
    assert clean == {} and sorted(errors) == sorted(changes)


# ------------------------------------------------------------------ OCPP payloads
@pytest.mark.parametrize("sign, power", [(1, 1330), (-1, 1330), (1, 31), (-1, 32), (1, 64)])
def test_ocpp_integers_out_of_range_are_refused(sign, power):
    value = sign * 2 ** power
    with pytest.raises(CallError) as e:
        ocpp_calls.check_call("UnlockConnector", {"connectorId": value})
    assert e.value.args[0] == "PropertyConstraintViolation"


@pytest.mark.parametrize("value", [INF, -INF, NAN, 1e308, -1e308, 1e10])
def test_ocpp_decimals_must_be_finite_and_bounded(value):
    with pytest.raises(CallError) as e:
        ocpp_calls.check("i!startPeriod,n!limit", {"startPeriod": 0, "limit": value})
    assert e.value.args[0] == "PropertyConstraintViolation"


@pytest.mark.parametrize("value", [0, -0.0, 16, 16.5, 2 ** 31 - 1])
def test_ocpp_ordinary_numbers_pass(value):
    ocpp_calls.check("n!limit", {"limit": value})


@pytest.mark.parametrize("value", [NAN, INF, 1e308, "1", None, [1], {}])
def test_ocpp_integer_fields_refuse_non_integers(value):
    with pytest.raises(CallError) as e:
        ocpp_calls.check_call("UnlockConnector", {"connectorId": value})
    assert e.value.args[0] in ("TypeConstraintViolation", "OccurenceConstraintViolation")
