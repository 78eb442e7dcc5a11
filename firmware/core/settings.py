"""The configuration schema: every setting's type, default and allowed range, and the
one validation routine that the config store, the web forms and the backend share.

Settings are a flat dict of dotted keys, so they persist as a small JSON object and a
change can be validated key by key. Other modules add their rows with `extend()`.
Labels and help texts live with the web pages, not here: every string kept in the
firmware costs RAM on the board.
"""
from micropython import const

INT = const(0)
BOOL = const(1)
STR = const(2)  # min/max are length limits
CHOICE = const(3)  # min is the tuple of allowed values
HOST = const(4)  # an IPv4 address or "" (not set); a name would need a blocking lookup
URL = const(5)  # "" (if min is 0) or ws:// / wss:// with a host; min/max are length limits
KEY = const(6)  # a WPA passphrase: "" (not set) or min..max printable ASCII characters
NAME = const(7)  # a host name or IPv4 address, optionally ":port"; min/max: length
TOPIC = const(8)  # an MQTT topic to publish under: no wildcards, no "/" at either end
WEB = const(9)  # "" (if min is 0) or an http:// / https:// address; min/max: length

SCHEMA = {
    # key: (type, default, min, max)
    "charging.max_current_a": (INT, 32, 6, 80),  # configured maximum per phase (A)
    "charging.cable_a": (INT, 32, 6, 80),  # rating of the fixed cable (A)
    "charging.phases": (CHOICE, 3, (1, 3), None),
    "charging.ventilation": (BOOL, False, None, None),  # allow charging in state D
    "charging.retry_delay_s": (INT, 10, 1, 600),  # pause before an automatic retry
    "charging.selftest_s": (INT, 3, 1, 30),  # minimum self-test time at plug-in
    "charging.wake_after_s": (INT, 30, 5, 600),  # no charge request: wake-up pulse
    "device.showroom": (BOOL, False, None, None),  # showroom mode: charging disabled
    "device.commissioning": (BOOL, False, None, None),  # commissioning (service) mode
    "device.led_brightness": (INT, 64, 4, 255),
    # The backend (OCPP 1.6J). Its rows live here, not in services/ocpp/backend.py, because
    # that module is imported only when the backend is enabled.
    "backend.enabled": (BOOL, False, None, None),
    "backend.url": (URL, "", 0, 200),  # ws:// or wss:// endpoint; the id is appended
    "backend.charge_point_id": (STR, "", 0, 48),  # "" = the serial number
    "backend.key": (STR, "", 0, 40),  # Basic auth password (security profiles 1, 2)
    "backend.id_tag": (STR, "free", 1, 20),  # idTag of sessions without authorization
    "backend.schedule_wait_s": (INT, 60, 0, 3600),  # wait for a schedule, then immediate
    "backend.timeout_s": (INT, 30, 5, 300),  # for an answer to a request
    "backend.retry_max_s": (INT, 300, 2, 3600),  # longest pause between connection tries
    "backend.max_frame_kb": (INT, 16, 4, 128),  # larger messages are refused
    "proxy.enabled": (BOOL, False, None, None),  # HTTP proxy (CONNECT) to the Internet
    "proxy.host": (HOST, "", None, None),
    "proxy.port": (INT, 8080, 1, 65535),
    "proxy.user": (STR, "", 0, 64),
    "proxy.password": (STR, "", 0, 64),
    # The web interface: here because services/web/server.py is imported inside a guard in app.py
    "web.port": (INT, 80, 1, 65535),
    "web.session_min": (INT, 30, 5, 1440),  # a session ends after this long unused
}


def extend(rows):
    """Add a module's settings (a dict in SCHEMA's format) at start-up."""
    for k in rows:
        if k in SCHEMA:
            raise ValueError("setting defined twice: " + k)
        SCHEMA[k] = rows[k]


def defaults():
    return {k: SCHEMA[k][1] for k in SCHEMA}


def check(key, value):
    """Return the value converted to its type, or raise ValueError with a clear reason."""
    row = SCHEMA.get(key)
    if row is None:
        raise ValueError("unknown setting")
    kind, _default, lo, hi = row
    if kind == BOOL:
        if value is True or value is False:
            return value
        raise ValueError("must be true or false")
    if kind == INT:
        if isinstance(value, bool) or not isinstance(value, int):
            # floats (inf, nan, 1e308, 16.0) are refused, not rounded; text only as digits
            text = value.strip() if isinstance(value, str) else ""
            digits = text[1:] if text[:1] == "-" else text
            if not digits or not all("0" <= c <= "9" for c in digits):
                raise ValueError("must be a whole number")
            value = int(text)
        if value < lo or value > hi:
            raise ValueError("must be between %d and %d" % (lo, hi))
        return value
    if kind == HOST:
        p = value.split(".") if isinstance(value, str) else ()
        if value != "" and (len(p) != 4 or not all(
                x.isdigit() and len(x) <= 3 and int(x) <= 255 for x in p)):
            raise ValueError("must be an IPv4 address")
        return value
    if kind == STR or kind >= URL:  # text
        if not isinstance(value, str):
            raise ValueError("must be text")
        if (value or kind != KEY) and (len(value) < lo or len(value) > hi):
            raise ValueError("must be %d to %d characters" % (lo, hi))
        for c in value:
            if c < " " or c == "\x7f" or (kind == KEY and c > "~"):
                raise ValueError("must not contain control characters" if kind != KEY
                                 else "must be printable ASCII characters")
        if kind == URL and value:
            h = value.split("://", 1)
            if h[0] not in ("ws", "wss") or len(h) < 2 or not h[1] or h[1][0] in "/:" \
                    or " " in value:
                raise ValueError("must be a ws:// or wss:// address")
        if kind == WEB and value:
            h = value.split("://", 1)
            if h[0] not in ("http", "https") or len(h) < 2 or not h[1] or h[1][0] in "/:" \
                    or " " in value:
                raise ValueError("must be an http:// or https:// address")
        if kind == TOPIC and ("+" in value or "#" in value or value[:1] == "/" or
                              value[-1:] == "/" or "//" in value):
            raise ValueError("must be a topic without + or #, empty levels or a / at either end")
        if kind == NAME and value:  # "" only where the minimum length is 0: not set
            h, _, port = value.partition(":")
            for c in h:
                if not (c.isalpha() or c.isdigit() or c in "-.") or c > "z":
                    raise ValueError("must be a host name or IP address")
            if not h or (_ and not (port.isdigit() and 0 < int(port) < 65536)):
                raise ValueError("must be a host name or IP address, optionally :port")
        return value
    if type(value) is not type(lo[0]) or value not in lo:  # 3.0 == 3 and True == 1
        raise ValueError("must be one of " + ", ".join(str(v) for v in lo))
    return value


def validate(changes):
    """Check a dict of changes. Returns (clean dict, {key: reason}); nothing is applied."""
    clean = {}
    errors = {}
    if not isinstance(changes, dict):
        return clean, {"": "expected an object of settings"}
    for k in changes:
        try:
            clean[k] = check(k, changes[k])
        except ValueError as e:
            errors[k] = str(e)
    return clean, errors


def merge(stored):
    """Defaults overlaid with the valid stored values; invalid ones are reported and dropped."""
    cfg = defaults()
    clean, errors = validate(stored if isinstance(stored, dict) else {})
    cfg.update(clean)
    return cfg, errors
