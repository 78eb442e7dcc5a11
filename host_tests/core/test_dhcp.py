"""The LAN port's DHCP server (core/dhcp.py): DISCOVER/OFFER/REQUEST/ACK, renewal, NAK,
RELEASE, DECLINE, a full pool, leases across the tick wrap, malformed packets.

Runs on CPython and in the MicroPython VM: plain asserts, pytest.raises, parametrize.
Time starts 30 s before the tick counter wraps. The hypothesis properties at the end run
on CPython only (the VM has no hypothesis).
"""
import pytest

from firmware.core.dhcp import Server
from firmware.core.ticks import ticks_add

NEAR_WRAP = ticks_add(0, -30000)
DISCOVER, OFFER, REQUEST, DECLINE, ACK, NAK, RELEASE, INFORM = 1, 2, 3, 4, 5, 6, 7, 8
MAC1 = b"\x02\x11\x22\x33\x44\x01"
MAC2 = b"\x02\x11\x22\x33\x44\x02"
MAC3 = b"\x02\x11\x22\x33\x44\x03"
SERVER = "192.168.5.1"


def ip(text):
    return bytes([int(x) for x in text.split(".")])


def dotted(b):
    return ".".join([str(x) for x in b])


def packet(typ, mac=MAC1, xid=b"\xde\xad\xbe\xef", ciaddr=None, want=None, sid=None,
           extra=b"", flags=b"\x80\x00", giaddr=None):
    p = bytearray(240)
    p[0] = 1
    p[1] = 1
    p[2] = len(mac)
    p[4:8] = xid
    p[10:12] = flags
    if ciaddr:
        p[12:16] = ip(ciaddr)
    if giaddr:
        p[24:28] = ip(giaddr)
    p[28:28 + len(mac)] = mac
    p[236:240] = b"\x63\x82\x53\x63"
    p += bytes([53, 1, typ])
    if want:
        p += bytes([50, 4]) + ip(want)
    if sid:
        p += bytes([54, 4]) + ip(sid)
    p += extra
    p += b"\xff"
    return p


def options(tx):
    out = {}
    i = 240
    while tx[i] != 255:
        if tx[i] == 0:
            i += 1
            continue
        out[tx[i]] = bytes(tx[i + 2:i + 2 + tx[i + 1]])
        i += 2 + tx[i + 1]
    return out


class Lan:
    """A Server, its answer buffer and a clock."""

    def __init__(self, start=NEAR_WRAP, **kw):
        self.s = Server(**kw)
        self.tx = bytearray(300)
        self.now = start

    def send(self, p):
        return self.s.handle(p, len(p), self.tx, self.now)

    def answer(self, p):
        """(message type, yiaddr) of the answer; None when silent."""
        n = self.send(p)
        if not n:
            return None
        assert n == 300
        return options(self.tx)[53][0], dotted(self.tx[16:20])

    def wait(self, ms):
        self.now = ticks_add(self.now, ms)

    def lease(self, mac=MAC1):
        typ, addr = self.answer(packet(DISCOVER, mac))
        assert typ == OFFER
        assert self.answer(packet(REQUEST, mac, want=addr, sid=SERVER)) == (ACK, addr)
        return addr


def test_discover_gets_an_offer_with_the_options_and_nothing_more():
    b = Lan()
    n = b.send(packet(DISCOVER, extra=bytes([12, 3]) + b"car"))  # host name: ignored
    assert n == 300
    tx = b.tx
    assert tx[0] == 2 and tx[1] == 1 and tx[2] == 6
    assert bytes(tx[4:8]) == b"\xde\xad\xbe\xef" and bytes(tx[10:12]) == b"\x80\x00"
    assert bytes(tx[12:16]) == bytes(4) and dotted(tx[16:20]) == "192.168.5.100"
    assert bytes(tx[28:34]) == MAC1 and bytes(tx[34:44]) == bytes(10)
    assert bytes(tx[44:236]) == bytes(192)  # sname, file
    assert bytes(tx[236:240]) == b"\x63\x82\x53\x63"
    assert options(tx) == {53: bytes([OFFER]), 54: ip(SERVER), 51: b"\x00\x00\x0e\x10",
                           1: ip("255.255.255.0")}  # no router, no DNS
    assert b.s.leases() == 0 and not b.s.fresh


def test_request_for_the_offer_is_acked_and_leased():
    b = Lan()
    assert b.answer(packet(DISCOVER)) == (OFFER, "192.168.5.100")
    assert b.answer(packet(REQUEST, want="192.168.5.100", sid=SERVER)) == (ACK, "192.168.5.100")
    assert b.s.fresh and b.s.leases() == 1
    o = options(b.tx)
    assert o[54] == ip(SERVER) and o[51] == b"\x00\x00\x0e\x10" and 3 not in o and 6 not in o


def test_the_same_mac_gets_the_same_address_and_others_the_next():
    b = Lan()
    assert b.lease(MAC1) == "192.168.5.100"
    assert b.answer(packet(DISCOVER, MAC2)) == (OFFER, "192.168.5.101")
    assert b.answer(packet(DISCOVER, MAC2)) == (OFFER, "192.168.5.101")
    assert b.answer(packet(DISCOVER, MAC1)) == (OFFER, "192.168.5.100")
    assert b.s.leases() == 1  # a DISCOVER does not end the lease
    b.wait(3600 * 1000)  # expired: still the same address while nobody took it
    assert b.answer(packet(DISCOVER, MAC3)) == (OFFER, "192.168.5.102")  # a fresh one first
    assert b.answer(packet(DISCOVER, MAC1)) == (OFFER, "192.168.5.100")


def test_discover_with_a_requested_free_address_is_offered_that_one():
    b = Lan()
    assert b.answer(packet(DISCOVER, want="192.168.5.107")) == (OFFER, "192.168.5.107")
    b.lease(MAC1)
    assert b.answer(packet(DISCOVER, MAC2, want="192.168.5.107")) == (OFFER, "192.168.5.100")
    assert b.answer(packet(DISCOVER, MAC3, want="10.0.0.7")) == (OFFER, "192.168.5.101")


def test_renewal_is_acked_with_ciaddr_and_extends_the_lease():
    b = Lan()
    addr = b.lease()
    for _ in range(5):
        b.wait(1800 * 1000)
        assert b.answer(packet(REQUEST, ciaddr=addr)) == (ACK, addr)
        assert dotted(b.tx[12:16]) == addr and not b.s.fresh
        assert b.s.leases() == 1
    b.wait(3599 * 1000)
    b.s.expire(b.now)
    assert b.s.leases() == 1
    b.wait(1000)
    b.s.expire(b.now)
    assert b.s.leases() == 0


@pytest.mark.parametrize("start", [NEAR_WRAP, ticks_add(0, -3600 * 1000), 1000])
def test_a_lease_expires_after_its_time_across_the_wrap(start):
    b = Lan(start=start)
    b.lease(MAC1)
    b.wait(3600 * 1000 - 1)
    b.s.expire(b.now)
    assert b.s.leases() == 1
    assert b.answer(packet(REQUEST, MAC2, want="192.168.5.100")) == (NAK, "0.0.0.0")
    b.wait(1)
    b.s.expire(b.now)
    assert b.s.leases() == 0
    assert b.answer(packet(REQUEST, MAC2, want="192.168.5.100")) == (ACK, "192.168.5.100")


def test_init_reboot_after_a_restart_of_the_server_gets_its_address_back():
    b = Lan()  # a client that kept its lease while the wallbox restarted
    assert b.answer(packet(REQUEST, want="192.168.5.104")) == (ACK, "192.168.5.104")
    assert b.s.fresh and b.s.leases() == 1
    assert b.answer(packet(DISCOVER)) == (OFFER, "192.168.5.104")


@pytest.mark.parametrize("want", ["192.168.5.50", "192.168.5.116", "192.168.5.1",
                                  "10.0.0.7", "192.168.6.100", None])
def test_request_for_an_address_not_ours_is_nakked(want):
    b = Lan()
    assert b.answer(packet(REQUEST, want=want)) == (NAK, "0.0.0.0")
    assert options(b.tx) == {53: bytes([NAK]), 54: ip(SERVER)}
    assert bytes(b.tx[12:16]) == bytes(4) and b.s.leases() == 0


def test_request_for_another_clients_address_is_nakked():
    b = Lan()
    b.lease(MAC1)
    assert b.answer(packet(REQUEST, MAC2, want="192.168.5.100", sid=SERVER)) == (NAK, "0.0.0.0")
    assert b.answer(packet(REQUEST, MAC2, ciaddr="192.168.5.100")) == (NAK, "0.0.0.0")
    b.answer(packet(DISCOVER, MAC3))  # offered, not yet leased: still not MAC2's
    assert b.answer(packet(REQUEST, MAC2, want="192.168.5.101")) == (NAK, "0.0.0.0")
    assert b.s.leases() == 1


def test_request_naming_another_server_is_ignored_and_frees_our_offer():
    b = Lan(count=1)
    assert b.answer(packet(DISCOVER, MAC1)) == (OFFER, "192.168.5.100")
    assert b.answer(packet(DISCOVER, MAC2)) is None  # the only address is offered
    assert b.answer(packet(REQUEST, MAC1, want="192.168.5.100", sid="192.168.5.254")) is None
    assert b.answer(packet(DISCOVER, MAC2)) == (OFFER, "192.168.5.100")
    assert b.answer(packet(RELEASE, MAC1, ciaddr="192.168.5.100", sid="10.1.1.1")) is None


def test_a_client_moving_to_another_address_gives_up_the_old_one():
    b = Lan(count=2)
    b.lease(MAC1)
    assert b.answer(packet(REQUEST, MAC1, want="192.168.5.101")) == (ACK, "192.168.5.101")
    assert b.s.leases() == 1
    assert b.answer(packet(DISCOVER, MAC2)) == (OFFER, "192.168.5.100")


def test_release_frees_the_address():
    b = Lan()
    b.lease(MAC1)
    assert b.answer(packet(RELEASE, MAC2, ciaddr="192.168.5.100", sid=SERVER)) is None
    assert b.s.leases() == 1  # not MAC2's to release
    assert b.answer(packet(RELEASE, MAC1, ciaddr="192.168.5.100", sid=SERVER)) is None
    assert b.s.leases() == 0
    assert b.answer(packet(REQUEST, MAC2, want="192.168.5.100")) == (ACK, "192.168.5.100")


def test_decline_keeps_the_address_out_of_use_for_a_while():
    b = Lan(count=2)
    b.lease(MAC1)
    assert b.answer(packet(DECLINE, MAC1, want="192.168.5.100", sid=SERVER)) is None
    assert b.s.leases() == 0
    assert b.answer(packet(DISCOVER, MAC1)) == (OFFER, "192.168.5.101")
    assert b.answer(packet(DISCOVER, MAC2)) is None  # .100 declined, .101 offered
    assert b.answer(packet(REQUEST, MAC2, want="192.168.5.100")) == (NAK, "0.0.0.0")
    b.wait(600 * 1000)
    assert b.answer(packet(DISCOVER, MAC2)) == (OFFER, "192.168.5.100")


def test_a_full_pool_offers_nothing_until_an_offer_lapses():
    b = Lan(count=3)
    for mac, host in ((MAC1, 100), (MAC2, 101), (MAC3, 102)):
        assert b.answer(packet(DISCOVER, mac)) == (OFFER, "192.168.5.%d" % host)
    other = b"\x02\x99\x99\x99\x99\x99"
    assert b.answer(packet(DISCOVER, other)) is None
    b.lease(MAC1)
    b.lease(MAC2)
    b.wait(59999)
    assert b.answer(packet(DISCOVER, other)) is None
    b.wait(1)  # MAC3's offer lapsed after 60 s
    assert b.answer(packet(DISCOVER, other)) == (OFFER, "192.168.5.102")


def test_router_only_when_configured_and_the_answer_buffer_is_cleared():
    b = Lan(router="192.168.5.1", lease_s=600)
    b.answer(packet(DISCOVER))
    o = options(b.tx)
    assert o[3] == ip("192.168.5.1") and o[51] == b"\x00\x00\x02\x58"
    b.answer(packet(REQUEST, MAC2, want="10.0.0.1"))
    assert options(b.tx) == {53: bytes([NAK]), 54: ip(SERVER)}
    assert bytes(b.tx[250:300]) == bytes(50)


def test_relayed_inform_and_unknown_types_get_no_answer():
    b = Lan()
    assert b.answer(packet(DISCOVER, giaddr="10.0.0.1")) is None
    assert b.answer(packet(INFORM, ciaddr="192.168.5.100")) is None
    assert b.answer(packet(42)) is None
    assert b.s.leases() == 0


def test_pad_options_and_a_missing_end_are_tolerated():
    b = Lan()
    p = packet(DISCOVER)
    p = p[:240] + b"\x00\x00" + p[240:-1]  # pads, no end option
    assert b.answer(p) == (OFFER, "192.168.5.100")
    assert b.answer(packet(DISCOVER, b"\x01" * 16)) == (OFFER, "192.168.5.101")  # hlen 16


def bad(mutate):
    p = packet(REQUEST, want="192.168.5.100")
    return mutate(p)


def _set(p, i, v):
    p[i] = v
    return p


MALFORMED = [
    ("too short", lambda p: p[:239]),
    ("too short", lambda p: b""),
    ("not a request", lambda p: _set(p, 0, 2)),
    ("hlen", lambda p: _set(p, 2, 17)),
    ("hlen", lambda p: _set(p, 2, 0)),
    ("cookie", lambda p: _set(p, 239, 0x64)),
    ("option length", lambda p: p[:240] + bytes([53, 1, 1, 12, 9]) + b"abc"),
    ("option length", lambda p: p[:240] + bytes([53, 1, 1, 12])),
    ("option length", lambda p: p[:240] + bytes([53, 5, 1])),
    ("option 53 size", lambda p: p[:240] + bytes([53, 2, 1, 1, 255])),
    ("option 50 size", lambda p: p[:240] + bytes([53, 1, 3, 50, 3, 1, 2, 3, 255])),
    ("option 54 size", lambda p: p[:240] + bytes([53, 1, 3, 54, 0, 255])),
    ("no message type", lambda p: p[:240]),
    ("no message type", lambda p: p[:240] + bytes([255, 53, 1, 1])),
    ("no message type", lambda p: p[:240] + bytes([0, 0, 12, 1, 65, 255])),
]


@pytest.mark.parametrize("reason, mutate", MALFORMED)
def test_malformed_packets_are_rejected_with_a_reason(reason, mutate):
    b = Lan()
    p = bad(mutate)
    with pytest.raises(ValueError, match=reason):
        b.send(p)
    assert b.s.leases() == 0
    assert b.answer(packet(DISCOVER)) == (OFFER, "192.168.5.100")  # still serving


def test_only_the_first_n_bytes_count():
    b = Lan()
    p = packet(DISCOVER) + bytes(300)  # a receive buffer longer than the datagram
    assert b.s.handle(p, len(packet(DISCOVER)), b.tx, b.now) == 300
    with pytest.raises(ValueError, match="option length"):
        b.s.handle(p, 242, b.tx, b.now)


@pytest.mark.parametrize("kw", [{"first": 0}, {"first": 250, "count": 6}, {"count": 0},
                                {"lease_s": 10}, {"lease_s": 864000}, {"ip": "192.168.5"},
                                {"mask": "255.255.255.0.0"}])
def test_a_bad_pool_is_refused(kw):
    with pytest.raises(ValueError):
        Server(**kw)


try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # the MicroPython VM
    given = None

if given is not None:
    HEADER = bytes(packet(DISCOVER)[:240])
    MACS = [bytes([2, 0, 0, 0, 0, k]) for k in range(24)]

    @settings(max_examples=400, deadline=None)
    @given(st.binary(max_size=700))
    def test_random_bytes_raise_nothing_but_value_error(data):
        b = Lan(count=4)
        try:
            n = b.send(data)
        except ValueError:
            return
        assert n in (0, 300)

    @settings(max_examples=400, deadline=None)
    @given(st.lists(st.binary(max_size=40), max_size=20), st.integers(min_value=0, max_value=20))
    def test_random_options_after_a_valid_header(chunks, hlen):
        b = Lan(count=4)
        for c in chunks:
            p = bytearray(HEADER) + c
            p[2] = hlen
            try:
                n = b.send(p)
            except ValueError:
                continue
            assert n in (0, 300)
            assert b.s.leases() <= 4

    OPS = st.tuples(st.sampled_from([DISCOVER, REQUEST, DECLINE, RELEASE, INFORM]),
                    st.integers(min_value=0, max_value=len(MACS) - 1),
                    st.sampled_from([None, "192.168.5.100", "192.168.5.103", "192.168.5.104",
                                     "192.168.5.1", "10.0.0.1"]),
                    st.sampled_from([None, SERVER, "192.168.5.2"]),
                    st.booleans(), st.integers(min_value=0, max_value=4000000))

    @settings(max_examples=300, deadline=None)
    @given(st.lists(OPS, max_size=60))
    def test_the_lease_table_stays_bounded_and_consistent(ops):
        b = Lan(count=4)
        size = (len(b.s.macs), len(b.s.mlen), len(b.s.state), len(b.s.until))
        for typ, m, want, sid, use_ci, wait in ops:
            b.wait(wait)
            n = b.send(packet(typ, MACS[m], want=want, sid=sid,
                              ciaddr=want if use_ci else None))
            if n:
                typ_out = options(b.tx)[53][0]
                addr = dotted(b.tx[16:20])
                assert typ_out in (OFFER, ACK, NAK)
                if typ_out == NAK:
                    assert addr == "0.0.0.0"
                else:
                    assert addr in ["192.168.5.%d" % h for h in range(100, 104)]
            s = b.s
            assert (len(s.macs), len(s.mlen), len(s.state), len(s.until)) == size
            assert s.leases() <= 4
            held = [bytes(s.macs[16 * k:16 * k + s.mlen[k]]) for k in range(4)
                    if s.state[k] in (1, 2)]
            assert len(held) == len(set(held))  # one address per client
