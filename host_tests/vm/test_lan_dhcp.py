"""The DHCP server on the LAN port (net.lan_dhcp), the whole firmware in the VM on the
virtual board with its simulated Ethernet port. A real UDP client on the host talks to it;
the board's DHCP ports are free high ports and its answers go to 127.0.0.1 (VM only)."""
import os
import socket
import struct
import time

import pytest

MAC1 = bytes.fromhex("02aabbccdd01")
MAC2 = bytes.fromhex("02aabbccdd02")
SERVER = socket.inet_aton("192.168.5.1")


def console_has(w, text):
    return any(text in line for line in w.console)


def charging(w):
    return w.status() == "Charging" and w.relay_closed()


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def packet(typ, mac, xid, want=None, sid=None):
    p = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, len(mac), 0, xid, 0, 0x8000,
                    bytes(4), bytes(4), bytes(4), bytes(4), mac, b"", b"")
    p += b"\x63\x82\x53\x63" + bytes([53, 1, typ]) + bytes([12, 4]) + b"ev-1"
    if want:
        p += bytes([50, 4]) + want
    if sid:
        p += bytes([54, 4]) + sid
    return p + b"\xff" + bytes(20)


def parse(data):
    op, _, hlen, _, xid, _, flags, ciaddr, yiaddr, _, _, chaddr = struct.unpack(
        "!BBBBIHH4s4s4s4s16s", data[:44])
    assert data[236:240] == b"\x63\x82\x53\x63"
    opts = {}
    i = 240
    while data[i] != 255:
        if data[i] == 0:
            i += 1
            continue
        opts[data[i]] = data[i + 2:i + 2 + data[i + 1]]
        i += 2 + data[i + 1]
    return {"op": op, "xid": xid, "flags": flags, "ciaddr": ciaddr, "yiaddr": yiaddr,
            "chaddr": chaddr[:hlen], "opts": opts, "len": len(data)}


class Client:
    """A DHCP client's socket on 127.0.0.1 (the port the board answers to)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.server = free_port()

    def env(self):
        return {"VBOARD_LAN": "1", "VBOARD_DHCP_PORTS": "%d:%d" % (self.server, self.port)}

    def send(self, data):
        self.sock.sendto(data, ("127.0.0.1", self.server))

    def answer(self, timeout=3.0):
        self.sock.settimeout(timeout)
        try:
            return parse(self.sock.recv(2048))
        except socket.timeout:
            return None

    def close(self):
        self.sock.close()


@pytest.fixture
def client():
    c = Client()
    yield c
    c.close()


def test_discover_offer_request_ack_and_garbage_stops_nothing(start_board, client):
    w = start_board(config={"net.lan_dhcp": True}, env=client.env(), plugged=True)
    w.wait_for(lambda w: console_has(w, "DHCP server on port %d" % client.server), timeout=15)
    w.wait_for(charging, timeout=20)

    client.send(packet(1, MAC1, 0x1234))
    offer = client.answer()
    assert offer is not None, "no OFFER"
    assert offer["op"] == 2 and offer["xid"] == 0x1234 and offer["chaddr"] == MAC1
    assert offer["flags"] == 0x8000 and offer["len"] == 300
    assert socket.inet_ntoa(offer["yiaddr"]) == "192.168.5.100"
    assert offer["opts"] == {53: b"\x02", 54: SERVER, 51: struct.pack("!I", 3600),
                             1: socket.inet_aton("255.255.255.0")}  # no router, no DNS

    client.send(packet(3, MAC1, 0x1235, want=offer["yiaddr"], sid=SERVER))
    ack = client.answer()
    assert ack is not None, "no ACK"
    assert ack["xid"] == 0x1235 and ack["opts"][53] == b"\x05"
    assert socket.inet_ntoa(ack["yiaddr"]) == "192.168.5.100"
    assert ack["opts"][51] == struct.pack("!I", 3600) and 3 not in ack["opts"]
    w.wait_for(lambda w: console_has(w, "DHCP: 192.168.5.100 to 02:aa:bb:cc:dd:01"),
               timeout=5)

    # another server's id: silence; an address held by MAC1: NAK
    client.send(packet(3, MAC2, 0x2000, want=offer["yiaddr"], sid=bytes([192, 168, 5, 9])))
    assert client.answer(timeout=1.0) is None
    client.send(packet(3, MAC2, 0x2001, want=offer["yiaddr"]))
    nak = client.answer()
    assert nak["opts"] == {53: b"\x06", 54: SERVER} and nak["yiaddr"] == bytes(4)

    good = packet(1, MAC2, 0x3000)
    garbage = [b"", b"\x01", os.urandom(100), os.urandom(600), b"\x02" + good[1:],
               good[:2] + b"\x11" + good[3:], good[:236] + b"\x00\x00\x00\x00" + good[240:],
               good[:240] + bytes([53, 1, 1, 12, 200, 1, 2]), good[:240]]
    for g in garbage * 5:  # 45 datagrams at once: more than a poll serves
        client.send(g)
    assert client.answer(timeout=2.0) is None
    w.wait_for(lambda w: console_has(w, "packet(s) not served, last: "), timeout=5)

    client.send(good)
    offer2 = client.answer()
    assert offer2 is not None and offer2["xid"] == 0x3000
    assert socket.inet_ntoa(offer2["yiaddr"]) == "192.168.5.101"
    assert charging(w) and w.running
    assert not w.state()["firmware"]["safe_mode"]
    assert not console_has(w, "crashed")


@pytest.mark.parametrize("config, lan", [({"net.lan_dhcp": False, "time.ntp": False}, True),
                                         ({"net.lan_dhcp": True}, False)],
                         ids=["setting-off", "no-lan-port"])
def test_nothing_answers_without_the_setting_or_the_port(start_board, client, config, lan):
    env = client.env()
    if not lan:
        del env["VBOARD_LAN"]
    w = start_board(config=config, env=env)
    w.wait_for(lambda w: console_has(w, "hotspot "), timeout=15)  # the network task ran
    time.sleep(1.0)
    for xid in range(3):
        client.send(packet(1, MAC1, xid))
        assert client.answer(timeout=1.0) is None
    assert not console_has(w, "DHCP")


KEEP_SCRIPT = r"""
import asyncio, json
import machine  # the virtual board's, for the network module
from firmware.services.platform.log import Log
from firmware.services.net.network import Net


class Owner:
    log = Log(echo=False)


class Crashing:  # its first run fails, its second ends as when its socket cannot open
    runs = 0

    async def run(self):
        Crashing.runs += 1
        if Crashing.runs == 1:
            raise RuntimeError("injected")


asyncio.run(Net._keep(Owner(), Crashing()))
print("RESULT " + json.dumps({"runs": Crashing.runs, "log": [e[3] for e in Owner.log.entries]}))
"""


def test_a_crashed_dhcp_server_is_logged_and_served_again(tmp_path):
    from vmrun import result_line, run_on_inert_board
    got = result_line(run_on_inert_board(tmp_path, KEEP_SCRIPT, timeout=60))
    assert got["runs"] == 2
    assert got["log"] == ["LAN DHCP server stopped: RuntimeError('injected',)"]
