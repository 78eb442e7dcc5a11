"""A WebSocket client (RFC 6455) for the backend link, on asyncio streams.

Why not a published client: they block on connect, ignore partial writes, busy-poll,
skip the handshake checks and send no close frame (docs/decisions.md). This one never
blocks the event loop: host names are resolved by an asynchronous DNS query, the TCP
connect, the TLS handshake and every read and write wait in asyncio's poll. Frames
larger than `max_frame` are skipped while they stream in (their first bytes are kept
so the caller can answer the message), so a hostile peer cannot exhaust the heap.

`open_stream()` and `read_head()` also serve the diagnostics upload (HTTP PUT).
"""
import asyncio
import os
import socket
from binascii import b2a_base64
from time import ticks_add, ticks_diff, ticks_ms

from micropython import const

_HEAD_MAX = const(2048)  # longest HTTP response head accepted
_KEEP = const(128)  # bytes kept of a frame that was too large
_CHUNK = const(1024)  # masking and skipping work in pieces this size


def b64(data):
    return b2a_base64(data)[:-1].decode()


def parse_url(url):
    """(secure, host, port, path) of a ws://, wss://, http:// or https:// URL."""
    i = url.find("://")
    scheme = url[:i]
    if scheme not in ("ws", "wss", "http", "https"):
        raise ValueError("URL must start with ws://, wss://, http:// or https://")
    secure = scheme == "wss" or scheme == "https"
    rest = url[i + 3:]
    j = rest.find("/")
    hostport, path = (rest, "/") if j < 0 else (rest[:j], rest[j:])
    if "@" in hostport:
        raise ValueError("credentials do not belong in the URL")
    host, _, port = hostport.rpartition(":") if ":" in hostport else (hostport, "", "")
    if not host or (port and not port.isdigit()):
        raise ValueError("bad host or port in the URL")
    return secure, host, int(port) if port else (443 if secure else 80), path


def _is_ip(host):
    p = host.split(".")
    return len(p) == 4 and all(x.isdigit() for x in p)


async def resolve(host, timeout_ms=4000, server=None, port=53):
    """The IPv4 address of `host`, by a DNS query that never blocks the event loop
    (to the interface's DNS server unless `server` is given)."""
    if _is_ip(host):
        return host
    if server is None:
        try:
            import network
            server = network.ipconfig("dns")
        except Exception:  # noqa: BLE001 - no network module, or an older API
            pass
    if not server or server == "0.0.0.0":
        return host  # the unix VM: the host's resolver (/etc/hosts) answers at once
    server, _, p = server.partition(":")  # "ip:port": the virtual board's test server
    port = int(p) if p else port
    q = bytearray(os.urandom(2) + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00")
    for label in host.split("."):
        q.append(len(label))
        q.extend(label.encode())
    q.extend(b"\x00\x00\x01\x00\x01")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    try:
        addr = socket.getaddrinfo(server, port)[0][-1]
        t0 = ticks_ms()
        sent = ticks_add(t0, -1000)
        while ticks_diff(ticks_ms(), t0) < timeout_ms:
            if ticks_diff(ticks_ms(), sent) >= 1000:  # ask again once a second
                s.sendto(q, addr)
                sent = ticks_ms()
            try:
                r = s.recv(512)
            except OSError:
                await asyncio.sleep_ms(20)
                continue
            if r[:2] != q[:2]:
                continue
            if r[3] & 15:  # an error code (3: no such name)
                break
            i = len(q)  # the question is echoed: answers follow it
            for _ in range(r[6] << 8 | r[7]):
                while r[i] and r[i] < 192:  # a name: labels, or a pointer
                    i += r[i] + 1
                i += 1 if r[i] == 0 else 2
                size = r[i + 8] << 8 | r[i + 9]
                if r[i + 1] == 1 and size == 4:
                    return "%d.%d.%d.%d" % tuple(r[i + 10:i + 14])
                i += 10 + size
            raise OSError("DNS: no address for " + host)
        else:
            raise OSError("DNS: no answer for " + host)
        raise OSError("DNS: no address for " + host)
    finally:
        s.close()


async def open_stream(host, port, secure, proxy=None, ca=None, timeout_ms=10000):
    """A connected stream to host:port, through an HTTP CONNECT proxy if given
    ((host, port, user, password)), with TLS if `secure` (verified if `ca` holds the
    CA certificate, DER). Raises OSError with a reason."""
    if proxy:
        s, _ = await asyncio.wait_for_ms(
            asyncio.open_connection(await resolve(proxy[0]), proxy[1]), timeout_ms)
        try:
            req = "CONNECT %s:%d HTTP/1.1\r\nHost: %s:%d\r\n" % (host, port, host, port)
            if proxy[2]:
                req += "Proxy-Authorization: Basic %s\r\n" % b64(
                    ("%s:%s" % (proxy[2], proxy[3])).encode())
            s.write((req + "\r\n").encode())
            await s.drain()
            status, _ = await asyncio.wait_for_ms(read_head(s), timeout_ms)
            if status != 200:
                raise OSError("proxy refused the tunnel: HTTP %d" % status)
        except BaseException:
            await close_stream(s)
            raise
    else:
        s, _ = await asyncio.wait_for_ms(
            asyncio.open_connection(await resolve(host), port), timeout_ms)
    if not secure:
        return s
    import ssl
    try:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if ca:
            ctx.load_verify_locations(cadata=ca)
            ctx.verify_mode = ssl.CERT_REQUIRED
        else:
            ctx.verify_mode = ssl.CERT_NONE
        t = ctx.wrap_socket(s.s, server_hostname=host, do_handshake_on_connect=False)
        t.setblocking(False)
    except BaseException as e:
        await close_stream(s)
        raise OSError("TLS: %s" % (e,))
    return asyncio.StreamReader(t)


async def close_stream(s):
    try:
        s.close()
        await s.wait_closed()
    except Exception:  # noqa: BLE001 - closing a broken connection may fail again
        pass


async def read_head(s):
    """An HTTP response head: (status, {lower-case name: value}); bounded in size."""
    buf = bytearray()
    while not buf.endswith(b"\r\n\r\n"):
        b = await s.read(1)
        if not b:
            raise OSError("connection closed during the HTTP response" if buf else
                          "no HTTP response (refused, or a TLS failure)")
        buf += b
        if len(buf) > _HEAD_MAX:
            raise OSError("HTTP response head too long")
    lines = buf.decode().split("\r\n")
    p = lines[0].split(" ")
    if len(p) < 2 or not p[0].startswith("HTTP/") or not p[1].isdigit():
        raise OSError("not an HTTP response: " + lines[0][:40])
    head = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        head[k.strip().lower()] = v.strip()
    return int(p[1]), head


class WebSocket:
    """One connection. `recv()` returns a whole message (bytes) or raises OSError when
    the connection ends; `too_big` is then the size of a message that was skipped
    (its first bytes are returned). Sends are serialized by a lock."""

    def __init__(self, max_frame=16384):
        self.max_frame = max_frame
        self.s = None
        self.reached = False  # the server answered over HTTP (for the online indicator)
        self.too_big = 0
        self.pong_at = 0
        self.closing = False
        self._lock = asyncio.Lock()

    async def connect(self, url, protocol="ocpp1.6", user=None, password=None, proxy=None,
                      ca=None, timeout_ms=10000):
        self.reached = False
        self.closing = False
        secure, host, port, path = parse_url(url)
        s = await open_stream(host, port, secure, proxy, ca, timeout_ms)
        try:
            key = b64(os.urandom(16))
            req = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                   "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: %s\r\n" % (
                       path, host, port, key, protocol))
            if user is not None:
                req += "Authorization: Basic %s\r\n" % b64(("%s:%s" % (user, password)).encode())
            s.write((req + "\r\n").encode())
            await s.drain()
            status, head = await asyncio.wait_for_ms(read_head(s), timeout_ms)
            self.reached = True
            if status != 101:
                raise OSError("handshake refused: HTTP %d" % status)
            from hashlib import sha1
            want = b64(sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
            if head.get("upgrade", "").lower() != "websocket" or \
                    "upgrade" not in head.get("connection", "").lower():
                raise OSError("handshake: not a WebSocket upgrade")
            if head.get("sec-websocket-accept") != want:
                raise OSError("handshake: wrong Sec-WebSocket-Accept")
            if head.get("sec-websocket-protocol") != protocol:
                raise OSError("handshake: server did not accept subprotocol " + protocol)
            if head.get("sec-websocket-extensions"):
                raise OSError("handshake: extensions were not asked for")
        except BaseException as e:
            await close_stream(s)
            why = str(e).strip()
            if secure and not self.reached and (isinstance(e, ValueError) or "TLS" in why):
                raise OSError("TLS failure: " + why)  # the handshake runs on first use
            raise
        self.s = s
        self.pong_at = ticks_ms()

    async def _read(self, n):
        buf = bytearray(n)
        mv = memoryview(buf)
        off = 0
        while off < n:
            k = await self.s.readinto(mv[off:])
            if k is None:  # TLS: a record is not complete yet
                continue
            if not k:
                raise OSError("connection closed mid-frame")
            off += k
        return buf

    async def _header(self):
        h = await self._read(2)
        if h[0] & 0x70:
            raise OSError("protocol error: reserved bits set")
        if h[1] & 0x80:
            raise OSError("protocol error: masked frame from the server")
        n = h[1] & 0x7F
        if n >= 126:
            ext = await self._read(2 if n == 126 else 8)
            n = int.from_bytes(ext, "big")
        return h[0] & 0x0F, h[0] & 0x80, n

    async def recv(self):
        msg = None
        total = 0
        self.too_big = 0
        while True:
            op, fin, n = await self._header()
            if op >= 8:  # a control frame, possibly between fragments
                if n > 125 or not fin:
                    raise OSError("protocol error: bad control frame")
                data = await self._read(n)
                if op == 8:
                    code = data[0] << 8 | data[1] if n >= 2 else 1005
                    if not self.closing:
                        await self._send(8, bytes(data[:2]))
                    raise OSError("closed by the server (%d)" % code)
                if op == 9:
                    await self._send(10, data)
                elif op == 10:
                    self.pong_at = ticks_ms()
                continue
            if (op == 0) != (msg is not None):
                raise OSError("protocol error: bad fragment sequence")
            if op not in (0, 1, 2):
                raise OSError("protocol error: opcode %d" % op)
            total += n
            if self.too_big or total > self.max_frame:
                if not self.too_big:
                    msg = (msg or b"")[:_KEEP]
                while n:  # stream past it in small reads, keeping the beginning
                    k = n if n < _CHUNK else _CHUNK
                    part = await self._read(k)
                    if len(msg) < _KEEP:
                        msg = bytes(msg) + bytes(part[:_KEEP - len(msg)])
                    n -= k
                self.too_big = total
            else:
                part = await self._read(n)
                msg = part if msg is None else msg + part
            if fin:
                return msg

    async def _send(self, op, data):
        n = len(data)
        head = bytearray(2)
        head[0] = 0x80 | op
        if n < 126:
            head[1] = 0x80 | n
        elif n < 65536:
            head[1] = 0xFE
            head += n.to_bytes(2, "big")
        else:
            head[1] = 0xFF
            head += n.to_bytes(8, "big")
        mask = os.urandom(4)
        head += mask
        frame = bytearray(len(head) + n)
        frame[:len(head)] = head
        # XOR with the mask as big integers, a piece at a time: C speed, small temporaries
        key = mask * (_CHUNK // 4)
        off = len(head)
        for i in range(0, n, _CHUNK):
            k = n - i if n - i < _CHUNK else _CHUNK
            v = int.from_bytes(data[i:i + k], "big") ^ int.from_bytes(key[:k], "big")
            frame[off + i:off + i + k] = v.to_bytes(k, "big")
        async with self._lock:
            s = self.s
            if s is None:
                raise OSError("not connected")
            s.write(frame)
            await s.drain()  # writes what the socket takes, waits, writes the rest

    async def send(self, text):
        await self._send(1, text.encode() if isinstance(text, str) else text)

    async def ping(self):
        await self._send(9, b"")

    async def close(self, code=1000):
        """Send a close frame (best effort, bounded in time) and drop the connection."""
        s = self.s
        if s is None:
            return
        self.closing = True
        try:
            await asyncio.wait_for_ms(self._send(8, code.to_bytes(2, "big")), 1000)
        except Exception:  # noqa: BLE001 - the peer may be gone already
            pass
        self.s = None
        await close_stream(s)
