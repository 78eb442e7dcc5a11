"""Virtual `network` for the VM: the Wi-Fi station and access point of the virtual board
behind MicroPython's interface (WLAN: active, connect, isconnected, disconnect, ifconfig,
config, scan, status; hostname). Deliberately thin: which networks exist comes from
VBOARD_NETWORKS ("ssid:password:rssi,..."), the world switches each one up or down
(vlink NET_UP), and a connection succeeds when the network is up and the password
matches. Traffic itself uses the VM's real sockets (the host's network).

With VBOARD_LAN set there is also an Ethernet port (LAN: active, isconnected, ifconfig,
config): its cable is plugged in while it is active, and without a fixed address it has
the one a router's DHCP server would give it."""
import os
import time

import machine

STA_IF = 0
AP_IF = 1
STAT_IDLE = 0
STAT_CONNECTING = 1
STAT_WRONG_PASSWORD = -3
STAT_NO_AP_FOUND = -2
STAT_GOT_IP = 3

_NETS = []
for _n in (os.getenv("VBOARD_NETWORKS") or "").split(","):
    if _n:
        _s, _p, _r = (_n.split(":") + ["", "-60"])[:3]
        _NETS.append((_s, _p, int(_r)))
_host = ["wallbox"]
_ifaces = {}


def hostname(name=None):
    if name is None:
        return _host[0]
    _host[0] = name


def _up(ssid):
    for i, n in enumerate(_NETS):
        if n[0] == ssid and machine._net_up[i]:
            return n
    return None


def WLAN(iface=STA_IF):  # noqa: N802 - MicroPython's name; one object per interface
    if iface not in _ifaces:
        _ifaces[iface] = _WLAN(iface)
    return _ifaces[iface]


class _WLAN:
    def __init__(self, iface):
        self._init(iface)

    def _init(self, iface):
        self.iface = iface
        self._active = False
        # a locally administered MAC per interface, as a board has its own burnt in
        self._cfg = {"ssid": "", "key": "", "channel": 1, "mac": bytes((2, 0, 0, 0, 1, iface))}
        self._want = None  # (ssid, key) of the station's connection
        self._since = 0

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
            return STAT_IDLE
        n = _up(self._want[0])
        if n is None:
            return STAT_NO_AP_FOUND
        if n[1] != self._want[1]:
            return STAT_WRONG_PASSWORD
        if time.ticks_diff(time.ticks_ms(), self._since) < 300:  # association takes a moment
            return STAT_CONNECTING
        return STAT_GOT_IP

    def isconnected(self):
        if self.iface == AP_IF:
            return self._active
        return self._active and self.status() == STAT_GOT_IP

    def ifconfig(self):
        if self.iface == AP_IF and self._active:
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
            self._fixed = None
            self._cfg = {"mac": b"\x02\x00\x00\x00\x00\x01"}

        def active(self, on=None):
            if on is None:
                return self._active
            self._active = bool(on)

        def isconnected(self):
            return self._active

        def ifconfig(self, cfg=None):
            if cfg is not None:
                self._fixed = tuple(cfg)
                return None
            if not self._active:
                return ("0.0.0.0", "0.0.0.0", "0.0.0.0", "0.0.0.0")
            return self._fixed or ("192.168.3.50", "255.255.255.0", "192.168.3.1",
                                   "192.168.3.1")

        def config(self, *names, **kw):
            if names:
                return self._cfg[names[0]]
            self._cfg.update(kw)
