"""The settings' format checks that the web forms, the configuration import and the
backend share (core/settings.py): URLs, WPA passphrases, host names, control
characters in text."""
import pytest

from firmware.core import settings

ROWS = {"fmt.url": (settings.URL, "", 0, 60), "fmt.key": (settings.KEY, "", 8, 63),
        "fmt.name": (settings.NAME, "pool.ntp.org", 1, 64),
        "fmt.text": (settings.STR, "", 0, 10)}
if "fmt.url" not in settings.SCHEMA:
    settings.extend(ROWS)


@pytest.mark.parametrize("key, value", [
    ("fmt.url", ""), ("fmt.url", "ws://192.168.1.5:9000/ocpp"), ("fmt.url", "wss://cs.example/x"),
    ("fmt.key", ""), ("fmt.key", "12345678"), ("fmt.key", "a b c d e f ~!"), ("fmt.key", "k" * 63),
    ("fmt.name", "pool.ntp.org"), ("fmt.name", "127.0.0.1:123"), ("fmt.name", "my-host"),
    ("fmt.text", "Garage 1"), ("fmt.text", ""),
])
def test_good_values(key, value):
    assert settings.check(key, value) == value


@pytest.mark.parametrize("key, value, reason", [
    ("fmt.url", "http://x/ocpp", "ws:// or wss://"),
    ("fmt.url", "ws://", "ws:// or wss://"),
    ("fmt.url", "ws:///path", "ws:// or wss://"),
    ("fmt.url", "ws://a b", "ws:// or wss://"),
    ("fmt.url", "ocpp.example", "ws:// or wss://"),
    ("fmt.url", "ws://x\n", "control"),
    ("fmt.url", 5, "text"),
    ("fmt.key", "1234567", "8 to 63"),
    ("fmt.key", "k" * 64, "8 to 63"),
    ("fmt.key", "passw\u00f6rd1", "printable ASCII"),
    ("fmt.key", "passwor\td", "printable ASCII"),
    ("fmt.name", "", "1 to 64"),
    ("fmt.name", "host name", "host name"),
    ("fmt.name", "host:", "optionally :port"),
    ("fmt.name", "host:70000", "optionally :port"),
    ("fmt.name", "host:x", "optionally :port"),
    ("fmt.name", "h\u00f6st", "host name"),
    ("fmt.text", "a\x00b", "control"),
    ("fmt.text", "a\x1bb", "control"),
    ("fmt.text", "x" * 11, "0 to 10"),
])
def test_bad_values_get_a_reason(key, value, reason):
    with pytest.raises(ValueError, match=reason):
        settings.check(key, value)


def test_the_backend_url_is_checked_as_an_address():
    assert settings.check("backend.url", "ws://10.0.0.2/ocpp") == "ws://10.0.0.2/ocpp"
    with pytest.raises(ValueError, match="ws://"):
        settings.check("backend.url", "http://10.0.0.2/ocpp")
