"""Networking and time: the hotspot, the Wi-Fi client, LAN where the board has it, and
the clock (NTP, the backend, the browser).

The hotspot (SSID = serial number, the provisioned password, channel 11 unless changed)
is up from the first start. The Wi-Fi client connects when configured; while it is not
connected the hotspot is kept up even when switched off, so nobody is locked out, and
the client retries with a growing pause. NTP is queried over a non-blocking UDP socket
(the stock `ntptime` blocks), its server's name resolved by the backend's non-blocking
DNS query (`websocket.resolve`; getaddrinfo would block the event loop for the whole
lookup). Nothing here waits on the network without yielding.

LAN: a DHCP client, or with net.lan_dhcp the fixed address 192.168.5.1/24 and a DHCP
server for the devices on that cable (services/net/dhcpd, imported only then). Such a LAN is
a local island, not an uplink: it does not count as online (no NTP through it).
"""
import asyncio
import socket
import struct
import time

import network
from micropython import const

from firmware.services.platform import datalog
from firmware.services.platform.log import ERROR, INFO

_NTP_DELTA = const(2208988800)  # 1900 -> 1970
_BACKOFF_MIN_S = const(5)
_BACKOFF_MAX_S = const(300)
_CONNECT_S = const(20)
_NTP_EVERY_S = const(3600)
_LAN_IP = const("192.168.5.1")  # with the DHCP server on the LAN port

clock_source = None  # "ntp", "backend", "browser" once the clock was set


def set_clock(epoch_s, source):
    """Set the wall clock (Unix seconds) from `source`; the RTC where there is one."""
    global clock_source
    try:
        import machine
        t = time.gmtime(int(epoch_s) - (946684800 if time.gmtime(0)[0] == 2000 else 0))
        machine.RTC().datetime((t[0], t[1], t[2], t[6], t[3], t[4], t[5], 0))
        datalog.clock_offset_s = 0
    except (ImportError, AttributeError):  # no RTC (the VM): keep an offset instead
        datalog.clock_offset_s = int(epoch_s - time.time())
    clock_source = source


async def ntp_query(server, timeout_ms=2000):
    """Unix seconds from an NTP server ("host" or "host:port"); OSError on failure."""
    from firmware.services.net.websocket import resolve  # a name: by a query that yields
    host, _, port = server.partition(":")
    addr = socket.getaddrinfo(await resolve(host), int(port or 123), 0,
                              socket.SOCK_DGRAM)[0][-1]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setblocking(False)
        q = bytearray(48)
        q[0] = 0x1B  # version 3, client
        s.sendto(q, addr)
        t0 = time.ticks_ms()
        while time.ticks_diff(time.ticks_ms(), t0) < timeout_ms:
            try:
                data = s.recv(48)
            except OSError:
                await asyncio.sleep_ms(20)
                continue
            if len(data) >= 48:
                secs, frac = struct.unpack("!II", data[40:48])
                return secs - _NTP_DELTA + frac / 4294967296
        raise OSError("no NTP answer")
    finally:
        s.close()


class Net:
    def __init__(self, config, log, board):
        self.config = config
        self.log = log
        self.ap = network.WLAN(network.AP_IF)
        self.sta = network.WLAN(network.STA_IF)
        self.board = board
        self.lan = None
        self.dhcpd = None  # the DHCP server on the LAN port, when switched on
        if getattr(board, "LAN", None) is not None:
            try:
                self.lan = network.LAN(**board.LAN)
            except (AttributeError, ValueError, OSError) as e:
                log.add(ERROR, "LAN failed: %s" % e)
        self.state = "off"  # of the Wi-Fi client: off, connecting, connected, failed
        self.failures = 0
        self.retry_s = 0

    def _hotspot(self, on):
        if on and not self.ap.active():
            c = self.config
            p = c.prov
            self.ap.config(ssid=c.get("net.hotspot_ssid") or p["serial"],
                           key=c.get("net.hotspot_password") or
                           p.get("hotspot_password") or p["serial"],
                           channel=c.get("net.channel"))
            self.ap.active(True)
            self.log.add(INFO, "hotspot %s on" % self.ap.config("ssid"))
        elif not on and self.ap.active():
            self.ap.active(False)
            self.log.add(INFO, "hotspot off")

    def hostname(self):
        c = self.config
        return (c.get("net.hostname") or "wallbox-" + c.prov["serial"]).lower()

    def names(self):
        """The names and addresses the box answers to: its host name, that name's mDNS
        form, and the address of each interface that is up."""
        h = self.hostname()
        out = [h, h + ".local"]
        for w in (self.ap, self.sta, self.lan):
            if w is not None and w.active():
                ip = w.ifconfig()[0]
                if ip != "0.0.0.0":
                    out.append(ip)
        return out

    def online(self):
        return self.sta.isconnected() or (self.lan is not None and self.dhcpd is None
                                          and self.lan.isconnected())

    def _serve_lan(self):
        """The fixed address on the LAN port and the DHCP server for it."""
        try:  # a failure here costs the server, never the network task (nor charging)
            from firmware.services.net.dhcpd import Dhcpd
            self.lan.ifconfig((_LAN_IP, "255.255.255.0", "0.0.0.0", "0.0.0.0"))
            # a board may move the ports and the answers (the virtual board: loopback)
            d = Dhcpd(self.log, _LAN_IP, *(getattr(self.board, "DHCP_PORTS", None) or ()))
        except (ImportError, MemoryError, OSError, ValueError) as e:
            self.log.add(ERROR, "LAN DHCP server: %r" % e)
            return
        self.dhcpd = d
        asyncio.create_task(self._keep(d))

    async def _keep(self, d):
        # Not a supervised task (it must not open the relay), so it restarts itself.
        while True:
            try:
                await d.run()
                return  # it could not open its socket, and said so
            except Exception as e:  # noqa: BLE001 - logged, then served again
                self.log.add(ERROR, "LAN DHCP server stopped: %r" % e)
                await asyncio.sleep_ms(5000)

    async def run(self):
        c = self.config
        try:
            network.hostname(self.hostname())
        except (AttributeError, ValueError, OSError):
            pass
        if self.lan is not None:
            self.lan.active(True)
            if c.get("net.lan_dhcp") and self.dhcpd is None:  # once, even if run restarts
                self._serve_lan()
        self._hotspot(c.get("net.hotspot") or not c.get("net.wifi"))
        ntp_at = 0
        while True:
            if c.get("net.wifi") and c.get("net.wifi_ssid"):
                if not self.sta.isconnected():
                    await self._connect()
            if self.online():
                self._hotspot(c.get("net.hotspot"))
                if c.get("time.ntp") and time.ticks_diff(time.ticks_ms(), ntp_at) >= 0:
                    try:
                        set_clock(await ntp_query(c.get("time.ntp_server")), "ntp")
                        self.log.add(INFO, "clock set by NTP: " + datalog.stamp())
                        ntp_at = time.ticks_add(time.ticks_ms(), _NTP_EVERY_S * 1000)
                    except (OSError, IndexError, ValueError) as e:
                        ntp_at = time.ticks_add(time.ticks_ms(), 60000)
                        self.log.add(ERROR, "NTP failed: %s" % e)
            else:
                self._hotspot(True)  # nobody locked out
            await asyncio.sleep_ms(1000)

    async def _connect(self):
        c = self.config
        if self.retry_s:
            await asyncio.sleep_ms(self.retry_s * 1000)
        self.state = "connecting"
        self.sta.active(True)
        try:
            self.sta.connect(c.get("net.wifi_ssid"), c.get("net.wifi_password"))
        except OSError as e:
            self.log.add(ERROR, "Wi-Fi failed: %s" % e)
        for _ in range(_CONNECT_S * 4):
            if self.sta.isconnected():
                self.state = "connected"
                self.failures = 0
                self.retry_s = 0
                self.log.add(INFO, "Wi-Fi connected to %s: %s" % (
                    c.get("net.wifi_ssid"), self.sta.ifconfig()[0]))
                return
            await asyncio.sleep_ms(250)
        self.sta.disconnect()
        self.state = "failed"
        self.failures += 1
        self.retry_s = min(_BACKOFF_MAX_S, _BACKOFF_MIN_S << min(self.failures - 1, 6))
        self.log.add(ERROR, "Wi-Fi %s not reachable (%d); next try in %d s" % (
            c.get("net.wifi_ssid"), self.failures, self.retry_s))
        self._hotspot(True)

    def scan(self):
        """[(ssid, rssi)] of the networks in range, strongest first (blocks ~2 s on the
        boards: call it from a request, not from a loop)."""
        self.sta.active(True)
        nets = [(n[0].decode() if isinstance(n[0], bytes) else n[0], n[3])
                for n in self.sta.scan()]
        nets.sort(key=lambda n: -n[1])
        return nets

    def describe(self):
        out = ["hotspot     %s %s %s" % ("on" if self.ap.active() else "off",
                                         self.ap.config("ssid"), self.ap.ifconfig()[0])]
        out.append("wifi client %s %s" % (self.state, self.sta.ifconfig()[0]
                                          if self.sta.isconnected() else ""))
        if self.lan is not None:
            d = self.dhcpd
            out.append("lan         %s%s" % (
                self.lan.ifconfig()[0] if self.lan.isconnected() else "down",
                "" if d is None else " DHCP server, %d leases" % d.server.leases()))
        out.append("time from   %s" % (clock_source or "not set"))
        return out
