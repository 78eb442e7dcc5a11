"""The firmware's WebSocket client (services/net/websocket.py) in the MicroPython VM against
real servers: `websockets` (the library the central systems use), and hand-written
misbehaving peers (wrong handshake, closing mid-frame, slow readers, a DNS server, an
HTTP CONNECT proxy, TLS with and without the right CA)."""
import asyncio
import base64
import datetime
import hashlib
import json
import os
import socket
import subprocess
import threading
import time

import pytest
from websockets.asyncio.server import basic_auth, serve

from udpservers import DnsServer
from vmrun import ROOT, micropython

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

HEAD = r"""
import asyncio, json, sys, time
from firmware.services.net import websocket
from firmware.services.net.websocket import WebSocket
def out(**kw):
    print(json.dumps(kw))
"""


def run_vm(script, tmp_path, heap="1m", timeout=90):
    path = tmp_path / "vmscript.py"
    path.write_text(HEAD + script)
    env = dict(os.environ, MICROPYPATH=ROOT + ":.frozen")
    proc = subprocess.run([micropython(), "-X", "heapsize=" + heap, str(path)], cwd=str(tmp_path),
                          env=env, capture_output=True, text=True, timeout=timeout)
    lines = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    assert lines, "no output from the VM:\n" + proc.stdout + proc.stderr
    return lines


class Loop:
    """An asyncio loop in a thread for the servers."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.t = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.t.start()

    def run(self, coro, timeout=20):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.t.join(5)


@pytest.fixture
def loop():
    lp = Loop()
    yield lp
    lp.close()


def ws_server(loop, handler, **kw):
    kw.setdefault("subprotocols", ["ocpp1.6"])
    kw.setdefault("max_size", 2 ** 22)

    async def start():
        return await serve(handler, "127.0.0.1", 0, **kw)
    server = loop.run(start())
    return server, server.sockets[0].getsockname()[1]


def raw_server(loop, handler):
    async def start():
        return await asyncio.start_server(handler, "127.0.0.1", 0)
    server = loop.run(start())
    return server, server.sockets[0].getsockname()[1]


async def raw_handshake(reader, writer, protocol="ocpp1.6", accept=None):
    head = await reader.readuntil(b"\r\n\r\n")
    fields = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:] if ": " in line)
    key = fields["Sec-WebSocket-Key"]
    accept = accept or base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
    reply = ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Accept: %s\r\n" % accept)
    if protocol:
        reply += "Sec-WebSocket-Protocol: %s\r\n" % protocol
    writer.write((reply + "\r\n").encode())
    await writer.drain()
    return fields


def test_echo_of_small_medium_and_large_messages(loop, tmp_path):
    got = []

    async def echo(ws):
        async for m in ws:
            got.append(m)
            await ws.send(m)
    server, port = ws_server(loop, echo)
    lines = run_vm("""
async def main():
    ws = WebSocket(max_frame=200000)
    await ws.connect("ws://127.0.0.1:%d/ocpp/CP1")
    for n in (5, 125, 126, 5000, 65535, 65536, 150000):
        text = ("0123456789" * (n // 10 + 1))[:n]
        await ws.send(text)
        m = await ws.recv()
        out(n=n, ok=bytes(m) == text.encode(), too_big=ws.too_big)
    await ws.close()
    out(done=True)
asyncio.run(main())
""" % port, tmp_path)
    assert lines[-1] == {"done": True}
    assert [x["n"] for x in lines[:-1]] == [5, 125, 126, 5000, 65535, 65536, 150000]
    assert all(x["ok"] and x["too_big"] == 0 for x in lines[:-1])
    assert [len(m) for m in got] == [5, 125, 126, 5000, 65535, 65536, 150000]
    server.close()


def test_fragments_pings_and_a_close_from_the_server(loop, tmp_path):
    seen = {}

    async def handler(ws):
        await ws.send(["frag", "men", "ted"])  # one message in three frames
        pong = await ws.ping(b"hi")
        await asyncio.wait_for(pong, 5)
        seen["pong"] = True
        await ws.send("after ping")
        await ws.close(4001, "bye")
        seen["close"] = ws.close_code
    server, port = ws_server(loop, handler)
    lines = run_vm("""
async def main():
    ws = WebSocket()
    await ws.connect("ws://127.0.0.1:%d/x")
    out(m=bytes(await ws.recv()).decode())
    out(m=bytes(await ws.recv()).decode())
    try:
        await ws.recv()
    except OSError as e:
        out(err=str(e))
asyncio.run(main())
""" % port, tmp_path)
    assert lines == [{"m": "fragmented"}, {"m": "after ping"},
                     {"err": "closed by the server (4001)"}]
    deadline = time.monotonic() + 5
    while "close" not in seen and time.monotonic() < deadline:
        time.sleep(0.05)
    assert seen == {"pong": True, "close": 4001}  # the client answered the close frame
    server.close()


def test_oversized_message_is_skipped_and_the_next_one_arrives(loop, tmp_path):
    async def handler(ws):
        await ws.send('[2,"big-1","DataTransfer",{"vendorId":"x","data":"%s"}]' % ("x" * 65536))
        await ws.send('[2,"small-2","Heartbeat",{}]')
        await ws.wait_closed()
    server, port = ws_server(loop, handler)
    lines = run_vm("""
async def main():
    ws = WebSocket(max_frame=16384)
    await ws.connect("ws://127.0.0.1:%d/x")
    m = await ws.recv()
    out(size=ws.too_big, head=bytes(m[:21]).decode(), kept=len(m))
    m = await ws.recv()
    out(size=ws.too_big, m=bytes(m).decode())
    await ws.close()
asyncio.run(main())
""" % port, tmp_path, heap="96k")
    assert lines[0]["size"] > 65536 and lines[0]["head"] == '[2,"big-1","DataTrans'
    assert lines[0]["kept"] <= 128
    assert lines[1] == {"size": 0, "m": '[2,"small-2","Heartbeat",{}]'}
    server.close()


def test_handshake_checks(loop, tmp_path):
    async def plain(ws):
        await ws.wait_closed()
    no_proto, port1 = ws_server(loop, plain, subprotocols=None)

    async def wrong_accept(reader, writer):
        await raw_handshake(reader, writer, accept="AAAAAAAAAAAAAAAAAAAAAAAAAAA=")
        await asyncio.sleep(2)
        writer.close()
    wrong, port2 = raw_server(loop, wrong_accept)

    async def not_http(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"SSH-2.0-OpenSSH\r\n\r\n")
        await writer.drain()
        writer.close()
    junk, port3 = raw_server(loop, not_http)
    lines = run_vm("""
async def main():
    for url in ("ws://127.0.0.1:%d/a", "ws://127.0.0.1:%d/b", "ws://127.0.0.1:%d/c",
                "ws://127.0.0.1:1/d", "http//nonsense", "ws://user:pw@127.0.0.1:1/e"):
        ws = WebSocket()
        try:
            await ws.connect(url, timeout_ms=3000)
            out(url=url, err=None)
        except (OSError, ValueError) as e:
            out(url=url, err=str(e), reached=ws.reached)
asyncio.run(main())
""" % (port1, port2, port3), tmp_path)
    errs = [x["err"] for x in lines]
    assert "did not accept subprotocol ocpp1.6" in errs[0]
    assert "wrong Sec-WebSocket-Accept" in errs[1]
    assert "not an HTTP response" in errs[2]
    assert errs[3] and not lines[3]["reached"]  # nothing listens: not reached
    assert "URL must start with" in errs[4]
    assert "credentials do not belong in the URL" in errs[5]
    assert lines[0]["reached"] and lines[1]["reached"]
    for s in (no_proto, wrong, junk):
        s.close()


def test_basic_authentication(loop, tmp_path):
    async def echo(ws):
        async for m in ws:
            await ws.send(m)
    server, port = ws_server(loop, echo, process_request=basic_auth(
        realm="ocpp", credentials=("CP7", "0123456789abcdef0123")))
    lines = run_vm("""
async def main():
    for user, pw in ((None, None), ("CP7", "wrong"), ("CP7", "0123456789abcdef0123")):
        ws = WebSocket()
        try:
            await ws.connect("ws://127.0.0.1:%d/ocpp/CP7", "ocpp1.6", user, pw)
            await ws.send("hello")
            out(ok=bytes(await ws.recv()).decode())
            await ws.close()
        except OSError as e:
            out(err=str(e), reached=ws.reached)
asyncio.run(main())
""" % port, tmp_path)
    assert lines == [{"err": "handshake refused: HTTP 401", "reached": True},
                     {"err": "handshake refused: HTTP 401", "reached": True},
                     {"ok": "hello"}]
    server.close()


def test_server_closing_mid_frame(loop, tmp_path):
    async def handler(reader, writer):
        await raw_handshake(reader, writer)
        writer.write(b"\x81\x7e\x03\xe8" + b"x" * 100)  # announces 1000 bytes, sends 100
        await writer.drain()
        writer.close()
    server, port = raw_server(loop, handler)
    lines = run_vm("""
async def main():
    ws = WebSocket()
    await ws.connect("ws://127.0.0.1:%d/x")
    try:
        await ws.recv()
    except OSError as e:
        out(err=str(e))
asyncio.run(main())
""" % port, tmp_path)
    assert lines == [{"err": "connection closed mid-frame"}]
    server.close()


@pytest.mark.parametrize("frame, why", [
    (b"\x91\x00", "reserved bits"),
    (b"\x81\x85abcdxxxxx", "masked frame"),
    (b"\x09\x00", "bad control frame"),  # a fragmented ping
    (b"\x80\x01x", "bad fragment sequence"),  # a continuation with nothing to continue
    (b"\x83\x00", "opcode 3"),
])
def test_protocol_errors_end_the_connection_with_a_reason(loop, tmp_path, frame, why):
    async def handler(reader, writer):
        await raw_handshake(reader, writer)
        writer.write(frame)
        await writer.drain()
        await asyncio.sleep(3)
        writer.close()
    server, port = raw_server(loop, handler)
    lines = run_vm("""
async def main():
    ws = WebSocket()
    await ws.connect("ws://127.0.0.1:%d/x")
    try:
        await ws.recv()
    except OSError as e:
        out(err=str(e))
asyncio.run(main())
""" % port, tmp_path)
    assert why in lines[0]["err"]
    server.close()


def test_partial_writes_to_a_slow_reader(loop, tmp_path):
    """A 300 KB message to a peer with a tiny receive buffer that reads slowly: the
    socket takes it in pieces, the client keeps the rest and finishes it."""
    got = {}

    async def handler(reader, writer):
        await raw_handshake(reader, writer)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        head = await reader.readexactly(2)
        n = head[1] & 0x7F
        n = int.from_bytes(await reader.readexactly(8 if n == 127 else 2), "big") if n >= 126 else n
        mask = await reader.readexactly(4)
        data = bytearray()
        while len(data) < n:
            data += await reader.read(min(2048, n - len(data)))
            await asyncio.sleep(0.002)
        got["text"] = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        writer.write(b"\x81\x02ok")
        await writer.drain()
        await asyncio.sleep(1)
        writer.close()
    server, port = raw_server(loop, handler)
    lines = run_vm("""
async def main():
    ws = WebSocket()
    await ws.connect("ws://127.0.0.1:%d/x")
    ticks = [0]
    async def ticker():
        while True:
            ticks[0] += 1
            await asyncio.sleep_ms(5)
    t = asyncio.create_task(ticker())
    text = ("ABCDEFGHIJKLMNOPQRSTUVWXYZ" * 11600)[:300000]
    await ws.send(text)
    m = await ws.recv()
    t.cancel()
    out(reply=bytes(m).decode(), ticks=ticks[0])
asyncio.run(main())
""" % port, tmp_path, heap="2m")
    assert lines[0]["reply"] == "ok"
    assert got["text"] == ("ABCDEFGHIJKLMNOPQRSTUVWXYZ" * 11600)[:300000].encode()
    assert lines[0]["ticks"] > 3  # other tasks ran while the message went out
    server.close()


def test_waiting_for_a_silent_server_does_not_block_other_tasks(loop, tmp_path):
    async def silent(reader, writer):
        await asyncio.sleep(5)
        writer.close()
    server, port = raw_server(loop, silent)
    lines = run_vm("""
async def main():
    ticks = [0]
    async def ticker():
        while True:
            ticks[0] += 1
            await asyncio.sleep_ms(10)
    t = asyncio.create_task(ticker())
    ws = WebSocket()
    try:
        await ws.connect("ws://127.0.0.1:%d/x", timeout_ms=1500)
    except Exception as e:
        out(err=type(e).__name__, ticks=ticks[0])
asyncio.run(main())
""" % port, tmp_path)
    assert lines[0]["err"] in ("TimeoutError", "CancelledError")
    assert lines[0]["ticks"] > 20
    server.close()


def test_names_are_resolved_without_blocking(tmp_path):
    dns = DnsServer({"backend.example.org": "127.0.0.9"}, silent=("silent.test",))
    lines = run_vm("""
async def main():
    ticks = [0]
    async def ticker():
        while True:
            ticks[0] += 1
            await asyncio.sleep_ms(10)
    t = asyncio.create_task(ticker())
    for name in ("backend.example.org", "10.1.2.3", "nowhere.example.org", "silent.test"):
        try:
            ip = await websocket.resolve(name, 1500, "127.0.0.1", %d)
            out(name=name, ip=ip)
        except OSError as e:
            out(name=name, err=str(e), ticks=ticks[0])
asyncio.run(main())
""" % dns.port, tmp_path)
    dns.close()
    assert lines[0] == {"name": "backend.example.org", "ip": "127.0.0.9"}
    assert lines[1] == {"name": "10.1.2.3", "ip": "10.1.2.3"}
    assert lines[2]["err"] == "DNS: no address for nowhere.example.org"
    assert lines[3]["err"] == "DNS: no answer for silent.test"
    assert lines[3]["ticks"] > 50  # the loop ran on while the query waited
    assert "10.1.2.3" not in dns.queries and dns.queries.count("silent.test") >= 1


def test_through_an_http_proxy(loop, tmp_path):
    seen = []

    async def echo(ws):
        async for m in ws:
            await ws.send(m)
    server, port = ws_server(loop, echo)

    async def proxy(reader, writer):
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        seen.append(head)
        if "Proxy-Authorization: Basic " + base64.b64encode(b"pxuser:pxpass").decode() \
                not in head:
            writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
            await writer.drain()
            writer.close()
            return
        host, _, p = head.split(" ")[1].partition(":")
        r2, w2 = await asyncio.open_connection(host, int(p))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()

        async def pipe(a, b):
            while True:
                data = await a.read(4096)
                if not data:
                    b.close()
                    return
                b.write(data)
                await b.drain()
        await asyncio.gather(pipe(reader, w2), pipe(r2, writer), return_exceptions=True)
    px, pport = raw_server(loop, proxy)
    lines = run_vm("""
async def main():
    for pw in ("nope", "pxpass"):
        ws = WebSocket()
        try:
            await ws.connect("ws://127.0.0.1:%d/ocpp/CP1", proxy=("127.0.0.1", %d, "pxuser", pw))
            await ws.send("via proxy")
            out(ok=bytes(await ws.recv()).decode())
            await ws.close()
        except OSError as e:
            out(err=str(e))
asyncio.run(main())
""" % (port, pport), tmp_path)
    assert lines == [{"err": "proxy refused the tunnel: HTTP 407"}, {"ok": "via proxy"}]
    assert seen[1].startswith("CONNECT 127.0.0.1:%d HTTP/1.1" % port)
    server.close()
    px.close()


def make_cert(tmp_path, name):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    certfile = tmp_path / (name + ".pem")
    keyfile = tmp_path / (name + ".key")
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    (tmp_path / (name + ".der")).write_bytes(cert.public_bytes(serialization.Encoding.DER))
    return str(certfile), str(keyfile)


def test_tls_verified_unverified_and_failing(loop, tmp_path):
    import ssl
    cert, key = make_cert(tmp_path, "localhost")
    make_cert(tmp_path, "other")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)

    async def echo(ws):
        async for m in ws:
            await ws.send(m)
    tls, port = ws_server(loop, echo, ssl=ctx)
    plain, pport = ws_server(loop, echo)
    lines = run_vm("""
async def main():
    ca_ok = open("localhost.der", "rb").read()
    ca_other = open("other.der", "rb").read()
    for url, ca in (("wss://localhost:%d/ocpp/CP1", ca_ok), ("wss://localhost:%d/ocpp/CP1", None),
                    ("wss://localhost:%d/ocpp/CP1", ca_other), ("wss://127.0.0.1:%d/x", None)):
        ws = WebSocket()
        try:
            await ws.connect(url, ca=ca, timeout_ms=5000)
            await ws.send("secret")
            out(ok=bytes(await ws.recv()).decode())
            await ws.close()
        except Exception as e:
            out(err=str(e), kind=type(e).__name__)
asyncio.run(main())
""" % (port, port, port, pport), tmp_path, heap="2m")
    assert lines[0] == {"ok": "secret"}
    assert lines[1] == {"ok": "secret"}  # no CA on the box: encrypted, not verified
    assert lines[2]["err"].startswith("TLS failure: ")  # wrong CA: refused
    assert "not correctly signed" in lines[2]["err"]
    assert lines[3]["err"].startswith("TLS failure: ")  # wss:// to a plain server
    tls.close()
    plain.close()


def test_upload_with_http_put(tmp_path):
    import http.server

    got = {}

    class H(http.server.BaseHTTPRequestHandler):
        def do_PUT(self):
            n = int(self.headers["Content-Length"])
            got["path"] = self.path
            got["body"] = self.rfile.read(n).decode()
            self.send_response(201)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass
    srv = http.server.HTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    lines = run_vm("""
def chunks():
    for i in range(50):
        yield "line %%d of the data log\\n" %% i
async def main():
    from firmware.services.ocpp.mgmt import upload
    code = await upload("http://127.0.0.1:%d/diag/", chunks, "log-X.txt")
    out(code=code)
asyncio.run(main())
""" % srv.server_address[1], tmp_path)
    srv.shutdown()
    assert lines == [{"code": 201}]
    assert got["path"] == "/diag/log-X.txt"
    assert got["body"] == "".join("line %d of the data log\n" % i for i in range(50))


def test_url_parsing(tmp_path):
    lines = run_vm("""
for u in ("ws://h:9000/ocpp", "wss://backend.example.org/a/b", "ws://10.0.0.1", "http://h/x/"):
    out(u=websocket.parse_url(u))
""", tmp_path)
    assert [x["u"] for x in lines] == [[False, "h", 9000, "/ocpp"],
                                       [True, "backend.example.org", 443, "/a/b"],
                                       [False, "10.0.0.1", 80, "/"], [False, "h", 80, "/x/"]]
