"""The DHCP server on the LAN port (setting net.lan_dhcp): core/dhcp on a non-blocking UDP
socket, polled between short sleeps so it never holds up the event loop. At most a few
datagrams are served per poll, so a flood costs bounded time. Answers go to the
broadcast address, or to the client's ciaddr when it has one (renewals); `to` replaces
both (the virtual board answers on 127.0.0.1). Imported only when switched on.
"""
import asyncio
import socket
from time import ticks_diff, ticks_ms

from micropython import const

from firmware.core.dhcp import Server
from firmware.services.platform.log import ERROR, INFO

_POLL_MS = const(100)
_BURST = const(4)  # datagrams per poll
_EXPIRE_POLLS = const(50)
_QUIET_MS = const(60000)  # one entry about packets not served per minute


class Dhcpd:
    def __init__(self, log, ip="192.168.5.1", port=67, client_port=68, to=None,
                 bind="0.0.0.0"):
        self.log = log
        self.server = Server(ip)
        self.port = port
        self.client_port = client_port
        self.to = to
        self.bind = bind
        self.rx = bytearray(548)  # a 576-byte IP datagram's DHCP message: the usual most
        self.tx = bytearray(300)
        self.bad = 0
        self.bad_at = None

    async def run(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
                s.bind(socket.getaddrinfo(self.bind, self.port)[0][-1])
                s.setblocking(False)
                dest = socket.getaddrinfo(self.to or "255.255.255.255",
                                          self.client_port)[0][-1]
            except (OSError, IndexError) as e:
                self.log.add(ERROR, "DHCP server: %s" % e)
                return
            self.log.add(INFO, "DHCP server on port %d" % self.port)
            polls = 0
            while True:
                for _ in range(_BURST):
                    try:
                        n = s.readinto(self.rx)
                    except OSError:  # EAGAIN on some ports
                        n = None
                    if not n:
                        break
                    self._serve(s, n, dest)
                polls += 1
                if polls >= _EXPIRE_POLLS:
                    polls = 0
                    self.server.expire(ticks_ms())
                await asyncio.sleep_ms(_POLL_MS)
        finally:
            s.close()

    def _serve(self, s, n, dest):
        srv = self.server
        tx = self.tx
        try:
            size = srv.handle(self.rx, n, tx, ticks_ms())
            if not size:
                return
            if self.to is None and (tx[12] or tx[13] or tx[14] or tx[15]):
                dest = socket.getaddrinfo("%d.%d.%d.%d" % (tx[12], tx[13], tx[14], tx[15]),
                                          self.client_port)[0][-1]
            s.sendto(tx, dest)  # size is len(tx): answers are padded to 300 bytes
        except Exception as e:  # noqa: BLE001 - no packet may stop the server
            self._bad(e)
            return
        if srv.fresh:
            self.log.add(INFO, "DHCP: %d.%d.%d.%d to %s" % (
                tx[16], tx[17], tx[18], tx[19],
                ":".join(["%02x" % tx[28 + j] for j in range(tx[2])])))

    def _bad(self, why):
        self.bad += 1
        now = ticks_ms()
        d = 0 if self.bad_at is None else ticks_diff(now, self.bad_at)
        if self.bad_at is None or d >= _QUIET_MS or d < 0:
            self.log.add(INFO, "DHCP: %d packet(s) not served, last: %s" % (self.bad, why))
            self.bad = 0
            self.bad_at = now
