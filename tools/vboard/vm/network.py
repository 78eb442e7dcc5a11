"""Virtual `network` for the VM: the Wi-Fi station and access point of the virtual board
behind MicroPython's interface (WLAN: active, connect, isconnected, disconnect, ifconfig,
config, scan, status; hostname; ipconfig("dns")). Deliberately thin: which networks exist
comes from VBOARD_NETWORKS ("ssid:password:rssi,..."), the world switches each one up or down
(vlink NET_UP), and a connection succeeds when the network is up and the password
matches. Traffic itself uses the VM's real sockets (the host's network).

With VBOARD_LAN set there is also an Ethernet port (LAN: active, isconnected, ifconfig,
config): its cable is plugged in while it is active, and without a fixed address it has
the one a router's DHCP server would give it."""
import os
import time

import machine
from micropython import const

STA_IF = 0
AP_IF = 1
# status() values; private consts, as the firmware never reads them: every name here is
# an interned name in the VM (see machine.py), where on a board this module is C code
_STAT_IDLE = const(0)
_STAT_CONNECTING = const(1)
_STAT_WRONG_PASSWORD = const(-3)
_STAT_NO_AP_FOUND = const(-2)
_STAT_GOT_IP = const(3)

# (ssid, password, rssi); a comprehension, as a loop's variables here would be globals
_NETS = [(f[0], f[1], int(f[2]) if f[2] else -60)
         for f in ((n.split(":") + ["", ""])[:3]
                   for n in (os.getenv("VBOARD_NETWORKS") or "").split(",") if n)]
_host = ["wallbox"]
_ifaces = {}


def hostname(name=None):
    if name is None:
        return _host[0]
    _host[0] = name


def ipconfig(name):
    """Only ("dns"): the DNS server, "ip:port" from VBOARD_DNS, else none ("0.0.0.0":
    the host's resolver answers at once)."""
    return os.getenv("VBOARD_DNS") or "0.0.0.0"


def _up(ssid):
    for i, n in enumerate(_NETS):
        if n[0] == ssid and machine._net_up[i]:
            return n
    return None


class WLAN:
    def __new__(cls, id=STA_IF):  # one object per interface, made at its first use
        o = _ifaces.get(id)
        if o is None:
            o = _ifaces[id] = object.__new__(cls)
            o.id = id
            o._active = False
            # a locally administered MAC per interface, as a board has its own burnt in
            o._cfg = {"ssid": "", "key": "", "channel": 1, "mac": bytes((2, 0, 0, 0, 1, id))}
            o._want = None  # (ssid, key) of the station's connection
            o._since = 0
        return o

    def active(self, on=None):
        if on is None:
            return self._active
        self._active = bool(on)
        if not on:
            self._want = None

    def config(self, *names, **kw):
        if names:
            return self._cfg[names[0]]
        for k in kw:
            if k in ("ssid", "essid"):
                self._cfg["ssid"] = kw[k]
            else:
                self._cfg[k] = kw[k]

    def connect(self, ssid=None, key=None):
        if not self._active:
            raise OSError("STA not active")
        self._want = (ssid, key or "")
        self._since = time.ticks_ms()

    def disconnect(self):
        self._want = None

    def status(self):
        if self._want is None:
            return _STAT_IDLE
        n = _up(self._want[0])
        if n is None:
            return _STAT_NO_AP_FOUND
        if n[1] != self._want[1]:
            return _STAT_WRONG_PASSWORD
        if time.ticks_diff(time.ticks_ms(), self._since) < 300:  # association takes a moment
            return _STAT_CONNECTING
        return _STAT_GOT_IP

    def isconnected(self):
        if self.id == AP_IF:
            return self._active
        return self._active and self.status() == _STAT_GOT_IP

    def ifconfig(self):
        if self.id == AP_IF and self._active:
            return ("192.168.2.1", "255.255.255.0", "192.168.2.1", "192.168.2.1")
        if self.isconnected():
            return ("192.168.1.%d" % (50 + _NETS.index(_up(self._want[0]))), "255.255.255.0",
                    "192.168.1.1", "192.168.1.1")
        return ("0.0.0.0", "0.0.0.0", "0.0.0.0", "0.0.0.0")

    def scan(self):
        if not self._active:
            raise OSError("STA not active")
        return [(n[0].encode(), b"\x02\0\0\0\0" + bytes([i]), 6, n[2], 3, False)
                for i, n in enumerate(_NETS) if machine._net_up[i]]


if os.getenv("VBOARD_LAN"):
    class LAN:  # noqa: N801 - MicroPython's name
        def __init__(self, **kw):
            self._active = False
            self._want = None  # the fixed address (ifconfig), None: the router's DHCP
            self._cfg = {"mac": b"\x02\x00\x00\x00\x00\x01"}

        def active(self, on=None):
            if on is None:
                return self._active
            self._active = bool(on)

        def isconnected(self):
            return self._active

        def ifconfig(self, cfg=None):
            if cfg is not None:
                self._want = tuple(cfg)
                return None
            if not self._active:
                return ("0.0.0.0", "0.0.0.0", "0.0.0.0", "0.0.0.0")
            return self._want or ("192.168.3.50", "255.255.255.0", "192.168.3.1",
                                   "192.168.3.1")

        def config(self, *names, **kw):
            if names:
                return self._cfg[names[0]]
            self._cfg.update(kw)
