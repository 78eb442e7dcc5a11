"""MQTT 3.1.1 packets, checked byte for byte against the standard's layouts."""
import pytest

from firmware.core import mqtt, settings


def remaining_length(packet):
    value, shift, i = 0, 0, 1
    while True:
        value, shift, done = mqtt.length_step(value, shift, packet[i])
        i += 1
        if done:
            return value, i


def test_connect_with_will_user_and_password():
    p = mqtt.connect("box1", 60, "user", "pw", "wb/availability", b"offline")
    n, i = remaining_length(p)
    assert p[0] == 0x10 and n == len(p) - i
    body = p[i:]
    assert body[:7] == b"\x00\x04MQTT\x04"
    # clean session 2, will 4, will QoS 1 (8), will retain 32, password 64, user 128
    assert body[7] == 2 | 4 | 8 | 32 | 64 | 128
    assert body[8:10] == b"\x00\x3c"
    assert body[10:] == (b"\x00\x04box1" + b"\x00\x0fwb/availability" + b"\x00\x07offline"
                         + b"\x00\x04user" + b"\x00\x02pw")


def test_connect_without_will_or_user():
    p = mqtt.connect("x", 30)
    assert p == b"\x10\x0d\x00\x04MQTT\x04\x02\x00\x1e\x00\x01x"


@pytest.mark.parametrize("size,head", [(3, b"\x03"), (127, b"\x7f"), (128, b"\x80\x01"),
                                      (16383, b"\xff\x7f"), (16384, b"\x80\x80\x01")])
def test_remaining_length_encoding(size, head):
    p = mqtt.publish("t", b"x" * (size - 3))  # 2 + 1 bytes of topic, then the payload
    assert p[1:1 + len(head)] == head
    assert remaining_length(p) == (size, 1 + len(head))


def test_publish_qos1_retained_with_id_and_dup():
    p = mqtt.publish("a/b", "on", qos=1, retain=True, pid=0x1234, dup=True)
    assert p == b"\x3b\x09\x00\x03a/b\x12\x34on"
    assert mqtt.publish("a/b", b"", retain=True) == b"\x31\x05\x00\x03a/b"


def test_parse_incoming_publish():
    p = mqtt.publish("wb/set/current", "16", qos=1, pid=7)
    _, i = remaining_length(p)
    assert mqtt.parse_publish(p[0] & 15, p[i:]) == ("wb/set/current", b"16", 1, 7)
    p = mqtt.publish("wb/set/start", "")
    assert mqtt.parse_publish(p[0] & 15, p[2:]) == ("wb/set/start", b"", 0, 0)


@pytest.mark.parametrize("flags,body", [(0, b"\x00"), (0, b"\x00\x09abc"), (2, b"\x00\x01a\x00"),
                                        (6, b"\x00\x01a\x00\x01")])
def test_malformed_publish_is_refused(flags, body):
    with pytest.raises(ValueError):
        mqtt.parse_publish(flags, body)


def test_length_over_four_bytes_is_refused():
    with pytest.raises(ValueError):
        remaining_length(b"\x30\xff\xff\xff\xff\x01")


def test_connack_and_acknowledgements():
    assert mqtt.connack_error(b"\x00\x00") is None
    assert mqtt.connack_error(b"\x00\x04") == "wrong user name or password"
    assert mqtt.connack_error(b"\x00\x05").startswith("not authorized")
    assert mqtt.connack_error(b"\x00\x09") == "refused (code 9)"
    with pytest.raises(ValueError):
        mqtt.connack_error(b"\x00")
    assert mqtt.puback(0x0102) == b"\x40\x02\x01\x02"
    assert mqtt.packet_id(b"\x01\x02") == 0x0102
    assert mqtt.subscribe(5, "wb/set/+") == b"\x82\x0d\x00\x05\x00\x08wb/set/+\x01"


@pytest.mark.parametrize("payload,da", [(b"16", 160), (b" 6 ", 60), (b"16.5", 165), (b"32", 320),
                                        (b"32.1", None), (b"5.9", None), (b"-6", None),
                                        (b"16.55", None), (b"abc", None), (b"", None),
                                        (b"1e1", None), (b"\xff", None), (b"16.", 160),
                                        (b"0016", None), (b"9999", None)])
def test_current_payloads(payload, da):
    assert mqtt.amps_da(payload, 320) == da


def test_mode_and_press_payloads():
    assert mqtt.mode(b"solar") == "solar"
    assert mqtt.mode(b"min+solar\n") == "min+solar"
    assert mqtt.mode(b"fast") is None and mqtt.mode(b"\xfe") is None
    assert mqtt.press(b"PRESS") and mqtt.press(b"1")
    assert not mqtt.press(b"0") and not mqtt.press(b"stop now") and not mqtt.press(b"")


@pytest.mark.parametrize("topic,ok", [("", True), ("wallbox/garage", True), ("a b/c", True),
                                      ("home/+/x", False), ("home/#", False), ("/home", False),
                                      ("home/", False), ("a//b", False)])
def test_topic_settings(topic, ok):
    settings.SCHEMA.setdefault("test.topic", (settings.TOPIC, "", 0, 64))
    if ok:
        assert settings.check("test.topic", topic) == topic
    else:
        with pytest.raises(ValueError):
            settings.check("test.topic", topic)


def test_an_empty_host_name_is_not_set_where_allowed():
    settings.SCHEMA.setdefault("test.host", (settings.NAME, "", 0, 64))
    assert settings.check("test.host", "") == ""
    assert settings.check("test.host", "broker.lan") == "broker.lan"
    with pytest.raises(ValueError):
        settings.check("test.host", "bro ker")
    settings.SCHEMA.setdefault("test.host_required", (settings.NAME, "x", 1, 64))
    with pytest.raises(ValueError, match="1 to 64"):
        settings.check("test.host_required", "")
