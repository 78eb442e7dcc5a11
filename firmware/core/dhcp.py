"""A small DHCP server (RFC 2131/2132) for the LAN port, as pure logic.

`Server.handle(rx, n, tx, now)` takes one request (the first `n` bytes of `rx`), updates
the lease table and writes the answer into the caller's preallocated `tx` (at least 300
bytes); it returns the answer's length, 0 for no answer, and raises ValueError (with a
short reason) for a malformed packet. Nothing is allocated per packet.

The pool lies in the server's /24: `count` addresses from host `first` on. One slot per
address holds the client's hardware address (chaddr), its state and, as a ticks_ms value,
when that state ends: an offer after 60 s, a lease after `lease_s`, a declined address
(another host answered ARP for it) after 10 min. A freed slot remembers its client, so a
client that comes back gets its old address while nobody else took it. The server is
authoritative on its cable: a request for an address outside the pool or held by another
client is NAKed, one naming another server (option 54) is ignored. Call `expire(now)` at
least once a day, so no time kept is older than half the ticks period.

Not served: relayed requests (giaddr set), DHCPINFORM, option overload, client ids
(option 61: the chaddr identifies a client). No router (option 3) unless one is given,
no DNS (option 6): the wallbox is not a router.
"""
from micropython import const

from firmware.core.ticks import ticks_add, ticks_diff

_DISCOVER = const(1)
_OFFER = const(2)
_REQUEST = const(3)
_DECLINE = const(4)
_ACK = const(5)
_NAK = const(6)
_RELEASE = const(7)

_FREE = const(0)
_OFFERED = const(1)
_BOUND = const(2)
_DECLINED = const(3)

_LEN = const(300)  # of an answer: the BOOTP minimum, padded
_OFFER_MS = const(60000)
_DECLINE_MS = const(600000)


def _ip(text):
    b = bytes([int(x) for x in text.split(".")])
    if len(b) != 4:
        raise ValueError("address")
    return b


class Server:
    def __init__(self, ip="192.168.5.1", mask="255.255.255.0", first=100, count=16,
                 lease_s=3600, router=None):
        self.ip = _ip(ip)
        self.mask = _ip(mask)
        self.router = _ip(router) if router else None
        if not (0 < first and 0 < count and first + count <= 255 and 60 <= lease_s <= 86400):
            raise ValueError("pool")
        self.first = first
        self.count = count
        self.lease_s = lease_s
        self.macs = bytearray(16 * count)
        self.mlen = bytearray(count)  # 0: the slot never had a client
        self.state = bytearray(count)
        self.until = [0] * count
        self.fresh = False  # the last answer was an ACK for a new lease (not a renewal)

    def handle(self, rx, n, tx, now):
        self.fresh = False
        if n < 240:
            raise ValueError("too short")
        if rx[0] != 1:
            raise ValueError("not a request")
        hl = rx[2]
        if hl == 0 or hl > 16:
            raise ValueError("hlen")
        if rx[236] != 99 or rx[237] != 130 or rx[238] != 83 or rx[239] != 99:
            raise ValueError("no magic cookie")
        typ = want = sid = 0  # message type; offsets of options 50 and 54
        i = 240
        while i < n:
            code = rx[i]
            if code == 255:
                break
            if code == 0:
                i += 1
                continue
            if i + 2 > n or i + 2 + rx[i + 1] > n:
                raise ValueError("option length")
            size = rx[i + 1]
            if code == 53 or code == 50 or code == 54:
                if size != (1 if code == 53 else 4):
                    raise ValueError("option %d size" % code)
                if code == 53:
                    typ = rx[i + 2]
                elif code == 50:
                    want = i + 2
                else:
                    sid = i + 2
            i += 2 + size
        if not typ:
            raise ValueError("no message type")
        if rx[24] or rx[25] or rx[26] or rx[27]:
            return 0  # relayed: not served
        self.expire(now)
        st = self.state
        slot = self._find(rx, hl)
        if sid and not (rx[sid] == self.ip[0] and rx[sid + 1] == self.ip[1]
                        and rx[sid + 2] == self.ip[2] and rx[sid + 3] == self.ip[3]):
            if typ == _REQUEST and slot >= 0 and st[slot] == _OFFERED:
                st[slot] = _FREE  # the client took another server's offer
            return 0
        if typ == _DISCOVER:
            if slot < 0:
                if want:
                    slot = self._index(rx, want)
                    if slot >= 0 and st[slot] != _FREE:
                        slot = -1
                if slot < 0:
                    slot = self._free()
                    if slot < 0:
                        return 0  # pool full
                self._own(slot, rx, hl)
            if st[slot] != _BOUND:
                st[slot] = _OFFERED
                self.until[slot] = ticks_add(now, _OFFER_MS)
            return self._reply(rx, tx, _OFFER, slot)
        if typ == _REQUEST:
            k = self._index(rx, want or 12)  # SELECTING, INIT-REBOOT: option 50; else ciaddr
            if k < 0 or st[k] == _DECLINED or (st[k] != _FREE and k != slot):
                return self._reply(rx, tx, _NAK, -1)
            if slot >= 0 and slot != k:
                st[slot] = _FREE  # one address per client
                self.mlen[slot] = 0
            self.fresh = not (k == slot and st[k] == _BOUND)
            self._own(k, rx, hl)
            st[k] = _BOUND
            self.until[k] = ticks_add(now, self.lease_s * 1000)
            return self._reply(rx, tx, _ACK, k)
        if typ == _RELEASE or typ == _DECLINE:
            k = self._index(rx, 12 if typ == _RELEASE else want)
            if k >= 0 and k == slot:
                if typ == _RELEASE:
                    st[k] = _FREE
                else:
                    st[k] = _DECLINED
                    self.mlen[k] = 0
                    self.until[k] = ticks_add(now, _DECLINE_MS)
        return 0

    def expire(self, now):
        for s in range(self.count):
            if self.state[s] and ticks_diff(now, self.until[s]) >= 0:
                self.state[s] = _FREE

    def leases(self):
        """How many addresses are leased now."""
        return sum(1 for x in self.state if x == _BOUND)

    def _index(self, rx, at):
        """The pool slot of the address at rx[at:at + 4], -1 if outside the pool."""
        ip = self.ip
        h = rx[at + 3] - self.first
        if at and rx[at] == ip[0] and rx[at + 1] == ip[1] and rx[at + 2] == ip[2] \
                and 0 <= h < self.count:
            return h
        return -1

    def _find(self, rx, hl):
        """The slot that holds (or last held) this client, -1 if none."""
        m = self.macs
        for s in range(self.count):
            if self.mlen[s] == hl and self.state[s] != _DECLINED:
                b = 16 * s
                for j in range(hl):
                    if m[b + j] != rx[28 + j]:
                        break
                else:
                    return s
        return -1

    def _free(self):
        """A free slot, one that never had a client first; -1 if the pool is full."""
        found = -1
        for s in range(self.count):
            if self.state[s] == _FREE:
                if not self.mlen[s]:
                    return s
                if found < 0:
                    found = s
        return found

    def _own(self, s, rx, hl):
        self.mlen[s] = hl
        for j in range(hl):
            self.macs[16 * s + j] = rx[28 + j]

    def _reply(self, rx, tx, typ, s):
        for j in range(_LEN):
            tx[j] = 0
        tx[0] = 2  # BOOTREPLY
        for j in (1, 2, 4, 5, 6, 7, 10, 11):  # htype, hlen, xid, flags
            tx[j] = rx[j]
        for j in range(28, 44):
            tx[j] = rx[j]  # chaddr
        ip = self.ip
        if typ == _ACK:
            for j in range(12, 16):
                tx[j] = rx[j]  # ciaddr
        if s >= 0:
            tx[16] = ip[0]
            tx[17] = ip[1]
            tx[18] = ip[2]
            tx[19] = self.first + s  # yiaddr
        tx[236] = 99
        tx[237] = 130
        tx[238] = 83
        tx[239] = 99
        tx[240] = 53
        tx[241] = 1
        tx[242] = typ
        i = _put(tx, 243, 54, ip)
        if typ != _NAK:
            t = self.lease_s
            tx[i] = 51
            tx[i + 1] = 4
            tx[i + 3] = (t >> 16) & 255
            tx[i + 4] = (t >> 8) & 255
            tx[i + 5] = t & 255
            i = _put(tx, i + 6, 1, self.mask)
            if self.router:
                i = _put(tx, i, 3, self.router)
        tx[i] = 255
        return _LEN


def _put(tx, i, code, ip):
    tx[i] = code
    tx[i + 1] = 4
    for j in range(4):
        tx[i + 2 + j] = ip[j]
    return i + 6
