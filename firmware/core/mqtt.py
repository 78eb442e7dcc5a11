"""MQTT 3.1.1 packets (OASIS standard, 2014) and the command payloads: pure, no sockets.

services/mqtt/link.py writes what these functions build and hands what it reads to
them. Only what a device needs: CONNECT with a last will, PUBLISH at QoS 0 and 1,
PUBACK, SUBSCRIBE, PINGREQ, DISCONNECT; QoS 2 is refused.
"""
from micropython import const

CONNACK = const(2)
PUBLISH = const(3)
PUBACK = const(4)
SUBACK = const(9)
PINGRESP = const(13)
PINGREQ_PACKET = b"\xc0\x00"
DISCONNECT_PACKET = b"\xe0\x00"
MAX_LENGTH = const(268435455)  # the largest remaining length of a packet

# CONNACK return codes 1-5 (3.2.2.3)
REFUSED = ("", "protocol version refused", "client id refused", "broker unavailable",
           "wrong user name or password",
           "not authorized (user name, password or access rights)")
MODES = ("immediate", "solar", "min+solar")  # the charging.mode setting's choices


def _text(s):
    b = s.encode() if isinstance(s, str) else bytes(s)
    if len(b) > 65535:
        raise ValueError("MQTT string too long")
    return bytes((len(b) >> 8, len(b) & 255)) + b


def _packet(first, body):
    """The fixed header (type and flags, remaining length) followed by `body`."""
    n = len(body)
    if n > MAX_LENGTH:
        raise ValueError("MQTT packet too long")
    head = bytearray((first,))
    while True:
        b = n & 127
        n >>= 7
        head.append(b | 128 if n else b)
        if not n:
            return bytes(head) + body


def connect(client_id, keepalive_s, user="", password="", will_topic="", will=b""):
    """CONNECT, clean session; the will (if a topic is given) is retained at QoS 1."""
    flags = 2
    payload = _text(client_id)
    if will_topic:
        flags |= 4 | 8 | 32
        payload += _text(will_topic) + _text(will)
    if user:
        flags |= 128
        payload += _text(user)
        if password:
            flags |= 64
            payload += _text(password)
    head = b"\x00\x04MQTT\x04" + bytes((flags, keepalive_s >> 8, keepalive_s & 255))
    return _packet(0x10, head + payload)


def publish(topic, payload, qos=0, retain=False, pid=0, dup=False):
    first = 0x30 | qos << 1 | (1 if retain else 0) | (8 if dup and qos else 0)
    body = _text(topic)
    if qos:
        body += bytes((pid >> 8, pid & 255))
    return _packet(first, body + (payload.encode() if isinstance(payload, str) else payload))


def puback(pid):
    return bytes((0x40, 2, pid >> 8, pid & 255))


def subscribe(pid, topic, qos=1):
    return _packet(0x82, bytes((pid >> 8, pid & 255)) + _text(topic) + bytes((qos,)))


def length_step(value, shift, byte):
    """One byte of the remaining length: (value so far, next shift, done). ValueError if
    the length takes more than four bytes."""
    value |= (byte & 127) << shift
    if byte & 128:
        if shift >= 21:
            raise ValueError("MQTT remaining length over four bytes")
        return value, shift + 7, False
    return value, shift, True


def connack_error(body):
    """None if the broker accepted the connection, else the reason."""
    if len(body) != 2:
        raise ValueError("malformed CONNACK")
    code = body[1]
    if code == 0:
        return None
    return REFUSED[code] if code < len(REFUSED) else "refused (code %d)" % code


def parse_publish(flags, body):
    """(topic, payload, qos, packet id) of an incoming PUBLISH; ValueError if malformed."""
    qos = (flags >> 1) & 3
    if qos == 3 or len(body) < 2:
        raise ValueError("malformed PUBLISH")
    n = body[0] << 8 | body[1]
    i = 2 + n
    if i > len(body) or (qos and i + 2 > len(body)):
        raise ValueError("malformed PUBLISH")
    topic = bytes(body[2:i]).decode()
    pid = 0
    if qos:
        pid = body[i] << 8 | body[i + 1]
        i += 2
    return topic, bytes(body[i:]), qos, pid


def packet_id(body):
    """The packet id of a PUBACK or SUBACK."""
    if len(body) < 2:
        raise ValueError("malformed acknowledgement")
    return body[0] << 8 | body[1]


def amps_da(payload, top_da):
    """A session current command ("16", "16.5": one decimal at most) in 0.1 A, or None
    unless it is a number from 6 A to `top_da`."""
    try:
        text = payload.decode().strip()
        whole, _, frac = text.partition(".")
        if not whole.isdigit() or len(whole) > 3 or len(frac) > 1 or (frac and not frac.isdigit()):
            return None
        da = int(whole) * 10 + (int(frac[0]) if frac else 0)
    except (UnicodeError, ValueError):
        return None
    return da if 60 <= da <= top_da else None


def mode(payload):
    """A charging mode command, or None."""
    try:
        text = payload.decode().strip()
    except UnicodeError:
        return None
    return text if text in MODES else None


def press(payload):
    """A start or stop command: the button's PRESS, or 1. Not an empty payload: that is
    what clears a retained message at the broker."""
    return payload == b"PRESS" or payload == b"1"
