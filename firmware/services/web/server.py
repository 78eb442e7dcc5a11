"""The web interface and the local JSON API (docs/web.md, docs/api.md).

microdot builds the requests, routes them and writes the responses. The connection
handling is our own (`Server.handle_request`), because microdot's reads request lines
without a length bound or a timeout and serves any number of connections: here the
request head is read in bounded pieces within a deadline, a body only up to the size its
route allows, every write has a timeout, at most _OPEN connections are open (a new one
pushes out the oldest that is still sending its request, so slow or idle ones cannot
starve the others) and _CONNS requests are answered at once (others wait briefly,
then get 503). Handlers are async and short; the
password hash yields while it works. None of it touches the charging control, which
runs from its hardware timer; the web only sets the core's inputs (the APP claim, the
authorization) and the settings.

One user (admin). Sessions live in RAM (a restart logs everyone out); the password hash
and the API tokens' hashes are in web.json. Static files are pre-gzipped by the build
into www/ (or the running update slot's www/).
"""
import asyncio
import hashlib
import os
import socket
import sys
from time import ticks_add, ticks_diff, ticks_ms

from asyncio import core
from micropython import const
from microdot.microdot import Microdot, NoCaseDict, Request, Response

from firmware.core import charger as ch
from firmware.core import faults, limits, webauth
from firmware.services.platform import datalog
from firmware.services.platform.config import load_json
from firmware.services.platform.log import ERROR, INFO
from firmware.services.web.common import ACCOUNT, _body, _err

_OPEN = const(8)  # connections open at once (sockets are few on a board)
_CONNS = const(4)  # requests answered at once
_HEAD_MAX = const(2048)  # request line and headers
_LINE_MAX = const(512)  # the request line alone
_HEADERS = const(24)
_BODY_MAX = const(2048)  # JSON bodies of the forms and the API
_IMPORT_MAX = const(16384)  # a configuration file with its card list
_HEAD_MS = const(5000)  # the whole head (and a small body) must arrive within this
_IO_MS = const(10000)  # each piece of an upload, each write
_STATUS_MS = const(100)  # a status answer serves the polls this long at most (issue 21)
_BUSY = b"HTTP/1.0 503 Busy\r\nRetry-After: 2\r\nContent-Length: 0\r\n\r\n"
_STATIC = {"html": "text/html", "js": "application/javascript", "css": "text/css",
           "txt": "text/plain", "svg": "image/svg+xml", "json": "application/json"}


class Server(Microdot):
    def __init__(self, web):
        super().__init__()
        self.web = web
        # [task, answering] of each open connection, oldest first: a connection still
        # sending its request (answering False) is what a new one may push out
        self.conns = []
        self.busy = 0  # requests being answered

    async def handle_request(self, reader, writer):
        conns = self.conns
        if len(conns) >= _OPEN:
            for old in conns:
                if not old[1]:  # the oldest idle or slow one makes room
                    conns.remove(old)
                    old[0].cancel()
                    break
            else:  # every one is being answered
                await self._refuse(reader, writer)
                return
        me = [asyncio.current_task(), False]
        conns.append(me)
        req = None
        try:
            try:
                req = await asyncio.wait_for_ms(self._request(reader, writer), _HEAD_MS)
                me[1] = True
                t0 = ticks_ms()
                while self.busy >= _CONNS:
                    if ticks_diff(ticks_ms(), t0) > 3000:
                        raise ValueError(503, "busy: try again in a few seconds")
                    await asyncio.sleep_ms(50)
                self.busy += 1
                me[1] = 2  # counted in busy until the answer is out
                res = self.web.check(req)
                if res is None and req.method == "GET" and req.path == "/api/v1/status":
                    res = await self.web.status_answer(self)  # whole, shared by the polls
                elif res is None:
                    res = await self.dispatch_request(req)
            except ValueError as e:  # a bad request: (status, reason); 0 = just close
                if len(e.args) < 2 or not e.args[0]:
                    return
                req = None
                res = _err(e.args[0], e.args[1])
            except asyncio.TimeoutError:
                req = None
                res = _err(408, "request not received in time")
            out = _Out(writer)
            if type(res) is bytes:  # made before, whole
                await out.awrite(res)
            else:
                self.finish(res, req)
                await asyncio.sleep_ms(0)  # the answer made in one step, written in the next
                await res.write(out)
            await out.flush()
        except asyncio.CancelledError:  # pushed out by a newer connection
            await self._close(writer, _BUSY)
        except Exception as e:  # noqa: BLE001 - a broken connection ends only itself
            if not isinstance(e, OSError):
                print("web:", repr(e))
        finally:
            if me[1] == 2:
                self.busy -= 1
            if me in conns:
                conns.remove(me)
            await self._close(writer, None)

    @staticmethod
    def finish(res, req):
        """The headers every answer carries."""
        h = res.headers
        h["X-Content-Type-Options"] = "nosniff"
        h["X-Frame-Options"] = "DENY"
        h["Referrer-Policy"] = "no-referrer"
        if "Cache-Control" not in h:
            h["Cache-Control"] = "no-store"
        if res.status_code == 503:
            h["Retry-After"] = "2"
        if req is not None and req.method == "HEAD":
            res.is_head = True

    async def _refuse(self, reader, writer):
        """503 to a connection beyond the bound; what it sent is read first (briefly),
        as closing on unread data resets the connection before the peer reads the 503."""
        try:
            await asyncio.wait_for_ms(reader.read(_HEAD_MAX), 200)
        except Exception:  # noqa: BLE001 - nothing came, or the peer went away
            pass
        await self._close(writer, _BUSY)

    async def _close(self, writer, data):
        try:
            if data:
                writer.write(data)
                await asyncio.wait_for_ms(writer.drain(), 1000)
        except Exception:  # noqa: BLE001 - the peer went away or is stuck
            pass
        try:
            writer.close()
            await writer.wait_closed()
        except Exception:  # noqa: BLE001
            pass

    async def _request(self, reader, writer):
        buf = b""
        while True:
            i = buf.find(b"\r\n\r\n")
            if i >= 0:
                break
            if len(buf) > _LINE_MAX and buf.find(b"\r\n") < 0:
                raise ValueError(414, "request line too long")
            if len(buf) >= _HEAD_MAX:
                raise ValueError(431, "request head too large")
            d = await reader.read(512)
            if not d:
                raise ValueError(0)
            buf += d
        try:
            lines = buf[:i].decode().split("\r\n")
        except UnicodeError:
            raise ValueError(400, "request head is not text")
        rest = buf[i + 4:]
        buf = None
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[1].startswith("/"):
            raise ValueError(400, "malformed request line")
        method, url, ver = parts
        if len(lines[0]) > _LINE_MAX:
            raise ValueError(414, "request line too long")
        if ver != "HTTP/1.1" and ver != "HTTP/1.0":
            raise ValueError(505, "HTTP/1.0 or 1.1 only")
        if method not in ("GET", "HEAD", "POST", "PUT", "DELETE"):
            raise ValueError(501, "method not supported")
        if len(lines) > _HEADERS + 1:
            raise ValueError(431, "too many header lines")
        headers = NoCaseDict()
        for line in lines[1:]:
            k, sep, v = line.partition(":")
            if not sep or not k or " " in k or "\t" in k:
                raise ValueError(400, "malformed header line")
            headers[k] = v.strip()
        lines = None
        if "Transfer-Encoding" in headers:
            raise ValueError(501, "chunked bodies are not supported: send Content-Length")
        n = headers.get("Content-Length", "0")
        if not n.isdigit() or len(n) > 9:
            raise ValueError(400, "bad Content-Length")
        n = int(n)
        path = url.split("?", 1)[0]
        stream = path == "/api/update"
        limit = _IMPORT_MAX if path == "/api/config/import" else _BODY_MAX
        if n > limit and not stream:
            raise ValueError(413, "body too large: at most %d bytes" % limit)
        body = b""
        if not stream:
            body = rest[:n]
            while len(body) < n:
                d = await reader.read(min(n - len(body), 1024))
                if not d:
                    raise ValueError(400, "body shorter than Content-Length")
                body += d
        req = Request(self, writer.get_extra_info("peername"), method, url, ver[5:],
                      headers, body=body, sock=(reader, writer))
        req.g.rest = rest if stream else b""
        return req


def _listen(host, port):
    ai = socket.getaddrinfo(host, port)[0]
    sock = socket.socket(ai[0])
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(ai[-1])
        sock.listen(5)
    except BaseException:
        sock.close()
        raise
    return sock


class _Out:
    """The connection's writer: collects microdot's many small writes (a status line,
    each header) into segments of ~1 KB, so they do not wait for the peer's delayed
    ACKs one by one (Nagle), and puts a timeout on every send."""

    def __init__(self, w):
        self.w = w
        self.buf = b""

    async def awrite(self, data):
        self.buf += data
        if len(self.buf) >= 1024:
            await self.flush()

    async def flush(self):
        if self.buf:
            self.w.write(self.buf)  # sends what the socket takes at once
            self.buf = b""
            if self.w.out_buf:  # the rest waits for the peer, within a timeout (a task)
                await asyncio.wait_for_ms(self.w.drain(), _IO_MS)
            else:  # a step per piece all the same (a file is many pieces)
                await asyncio.sleep_ms(0)


class _Whole:
    """An answer written into bytes."""

    def __init__(self):
        self.buf = b""

    async def awrite(self, data):
        self.buf += data


class Web:
    def __init__(self, app):
        self.app = app
        self.log = app.log
        cfg = app.config
        self.prov = cfg.prov
        self.acct = self._load()
        cfg.user_files.append(ACCOUNT)
        st = load_json("update.json", {}) if _exists("update.json") else {}
        slot = st.get("active") if isinstance(st, dict) else None
        self.www = slot + "/www" if slot and _exists(slot + "/www") else "www"
        self.version = (st.get("version") if slot else None) or "dev"
        try:
            with open(self.www + "/version") as f:
                self.etag = '"%s"' % f.read().strip()
        except OSError:
            self.etag = '"0"'
        self.sessions = []  # [token, csrf, expires (ticks), must change password]
        self.fails = 0
        self.wait_until = ticks_ms()
        self.checking = False
        self.updating = False
        # the session's chart for the status page (its energy: app.sessions)
        self.chart_a = bytearray(120)  # actual current, 0.5 A steps
        self.chart_kw = bytearray(120)  # power, 0.1 kW steps
        self.chart_n = 0
        self.chart_s = 10  # seconds between two chart points (doubles when full)
        self._charted = 0  # the session the chart is of (Session.count)
        self._session_at = 0  # ticks_ms at its plug-in
        self.session_s = 0  # its duration (frozen at the unplug)
        self._count = 0
        # the status answer, whole (head and body), when, and the state it shows: pages
        # polling at once share it; a change made through the web drops it (Web.api)
        self._status_answer = None
        self._status_at = 0
        self._status_of = None
        app.web_ready = False
        s = Server(self)
        s.error_handlers[404] = lambda r: ({"error": "not found"}, 404)
        s.error_handlers[405] = lambda r: ({"error": "method not allowed"}, 405)
        s.error_handlers[500] = lambda r: ({"error": "internal error"}, 500)
        s.route("/")(self.static)
        s.route("/<name>")(self.static)
        s.route("/api/<path:p>", methods=["GET", "POST", "PUT", "DELETE"])(self.api)
        Request.max_content_length = 1 << 30  # limits are checked in Server._request
        Response.send_file_buffer_size = 512
        self.server = s
        # "METHOD path" -> a method here, or the name of a function in admin.py (the whole
        # path also keeps each key longer than the 10 characters MicroPython interns)
        self.routes = {
            "GET /api/v1/status": self._status, "POST /api/v1/start": self._start,
            "POST /api/v1/stop": self._stop, "POST /api/v1/current": self._current,
            "GET /api/v1/plan": self._plan, "POST /api/v1/plan": self._plan,
            "POST /api/login": "login", "POST /api/logout": "logout",
            "GET /api/session": "session", "GET /api/user": "user",
            "GET /api/config": "config_get", "POST /api/config": "config",
            "GET /api/config/export": "export", "POST /api/config/import": "config_import",
            "POST /api/recover": "recover", "POST /api/password": "password",
            "POST /api/wizard": "wizard", "POST /api/tokens": "tokens",
            "DELETE /api/tokens/*": "token_remove", "POST /api/time": "set_time",
            "GET /api/wifi/scan": "scan", "POST /api/meter/test": "meter_test",
            "POST /api/mqtt/test": "mqtt_test",
            "GET /api/cards": "cards_get", "POST /api/cards": "cards",
            "PUT /api/cards/*": "card_label", "DELETE /api/cards/*": "card_remove",
            "GET /api/log": "log", "GET /api/log/all": "log_all",
            "GET /api/log/all.gz": "log_all_gz",
            "POST /api/restart": "restart", "POST /api/update": "update",
            "POST /api/update/check": "update_check",
            "POST /api/update/install": "update_install",
            "GET /api/update/status": "update_status",
            "POST /api/factory-reset": "factory_reset"}
        self.x_busy = 0  # admin.py requests running
        self.x_at = ticks_ms()  # the last one

    # ------------------------------------------------------------------ running
    async def serve(self):
        """Listen and accept connections in this supervised task (asyncio.start_server
        accepts in a task of its own that nothing restarts once it died, e.g. out of
        memory under load): whatever ends this closes the listening socket, and the
        supervisor logs it and starts this again, which listens anew."""
        port = getattr(self.app.board, "WEB_PORT", 0) or self.app.config.get("web.port")
        host = getattr(self.app.board, "WEB_HOST", "0.0.0.0")
        self.port = port
        pause_s = 5
        while True:
            try:
                sock = _listen(host, port)
                break
            except OSError as e:  # port taken: log, keep charging, try again later
                self.log.add(ERROR, "web server cannot listen on port %d: %s; retrying in "
                             "%d s" % (port, e, pause_s))
                await asyncio.sleep(pause_s)
                pause_s = min(pause_s * 2, 60)
        try:
            self.log.add(INFO, "web interface on port %d" % port)
            self.app.web_ready = True
            handle = self.server.handle_request
            while True:
                yield core._io_queue.queue_read(sock)  # as asyncio's own accept loop waits
                try:
                    conn, addr = sock.accept()
                except OSError:  # the peer went away before the accept
                    continue
                try:
                    conn.setblocking(False)
                    stream = asyncio.StreamReader(conn, {"peername": addr})
                    asyncio.create_task(handle(stream, stream))
                except BaseException:  # out of memory: this connection is not leaked
                    conn.close()
                    raise
        finally:
            self.app.web_ready = False
            sock.close()

    async def run(self):
        """The session's figures and the logins' expiry, once a second."""
        while True:
            await asyncio.sleep_ms(1000)
            self._every_second(ticks_ms())

    def _every_second(self, now):
        """The session's chart, and the expiry of logins and of web/admin.py."""
        a = self.app
        se = a.sessions.now
        if se.count != self._charted:  # a new session
            self._charted = se.count
            self.chart_n = self._count = 0
            self.chart_s = 10
            self._session_at = now
        if se.plugged:
            self.session_s = ticks_diff(now, self._session_at) // 1000
            self._count += 1
            if self._count >= self.chart_s:
                self._count = 0
                n = self.chart_n
                if n == len(self.chart_a):  # full: keep every second point
                    for i in range(n // 2):
                        self.chart_a[i] = self.chart_a[2 * i + 1]
                        self.chart_kw[i] = self.chart_kw[2 * i + 1]
                    n //= 2
                    self.chart_s *= 2
                cur = a.sessions.currents()
                self.chart_a[n] = min(255, max(cur) // 5)
                self.chart_kw[n] = min(255, a.sessions.watts() // 100)
                self.chart_n = n + 1
        self.sessions = [s for s in self.sessions if ticks_diff(s[2], now) > 0]
        if not self.x_busy and ticks_diff(now, self.x_at) > 30000 and \
                "firmware.services.web.admin" in sys.modules:  # idle: give its RAM back
            del sys.modules["firmware.services.web.admin"]
            import firmware.services.web
            try:
                delattr(firmware.services.web, "admin")
            except AttributeError:
                pass

    # ------------------------------------------------------------ access checks
    def check(self, req):
        """None if the request may go on, else the error Response. Static files, login
        and recovery are public; the local API takes a token or a session; the rest
        needs a session, and changes need its CSRF token."""
        p = req.path
        req.g.s = None
        host = req.headers.get("Host")
        origin = req.headers.get("Origin")
        if host is not None and not self._ours(host):
            return _err(421, "unknown host name: use the charger's address or name")
        if origin is not None and not (origin[:7] == "http://" and self._ours(origin[7:])
                                       and (host is None or origin[7:] == host)):
            return _err(403, "cross-site request refused")
        if not p.startswith("/api/"):
            return None
        if p == "/api/login" or p == "/api/recover":
            return None
        if p.startswith("/api/v1/"):
            auth = req.headers.get("Authorization", "")
            if auth.startswith("Bearer "):
                return None if self._token_ok(auth[7:]) else \
                    _err(401, "unknown or revoked API token")
        s = self._find(req)
        if s is None:
            return _err(401, "not logged in")
        if req.method != "GET" and req.method != "HEAD" and \
                not webauth.same(req.headers.get("X-CSRF-Token", ""), s[1]):
            return _err(403, "missing or wrong CSRF token: reload the page")
        if s[3] and p not in ("/api/session", "/api/password", "/api/logout"):
            return _err(403, "set a new password first", must_change=True)
        s[2] = ticks_add(ticks_ms(), self.app.config.get("web.session_min") * 60000)
        req.g.s = s
        return None

    def _ours(self, host):
        """Whether `host` ("name" or "name:port") is this box: against DNS rebinding,
        where a foreign page's name is made to point at the box (docs/web.md)."""
        name, sep, port = host.rpartition(":")
        if not sep:
            name, port = host, "80"
        if port != str(self.port):
            return False
        name = name.lower()
        a = self.app
        if getattr(a.board, "WEB_HOST", "") == "127.0.0.1" and name in ("127.0.0.1",
                                                                        "localhost"):
            return True
        n = getattr(a, "net", None)
        return n is not None and name in n.names()

    def _find(self, req):
        t = req.cookies.get("sid")
        if t:
            now = ticks_ms()
            for s in self.sessions:
                if webauth.same(t, s[0]) and ticks_diff(s[2], now) > 0:
                    return s
        return None

    def _token_ok(self, token):
        h = hashlib.sha256(token.encode()).digest().hex()
        for t in self.acct.get("tokens", {}).values():
            if webauth.same(h, t[1]):
                return True
        return False

    # ---------------------------------------------------------------- routing
    async def static(self, req, name="index.html"):
        ext = name.rpartition(".")[2]
        if ext not in _STATIC or name[0] == "." or ".." in name or \
                not all(c.isalpha() or c.isdigit() or c in "._-" for c in name):
            return _err(404, "not found")
        path = "%s/%s.gz" % (self.www, name)
        if not _exists(path):
            return _err(404, "not found")
        main = name == "index.html"
        if main and req.headers.get("If-None-Match") == self.etag:
            return Response(b"", 304, {"ETag": self.etag})
        res = Response.send_file(path, content_type=_STATIC[ext] + "; charset=utf-8",
                                 compressed=True)
        h = res.headers
        if main:
            h["Cache-Control"] = "no-cache"
            h["ETag"] = self.etag
            h["Content-Security-Policy"] = "default-src 'self'; frame-ancestors 'none'"
        else:  # the page asks for them with ?v=<build>: a new build is a new URL
            h["Cache-Control"] = "max-age=31536000, immutable"
        return res

    async def api(self, req, p):
        m = req.method if req.method != "HEAD" else "GET"
        path = req.path  # "/api/" + p
        h = self.routes.get(m + " " + path)
        arg = None
        if h is None:
            head, _, arg = p.partition("/")
            star = path[:len(path) - len(p)] + head + "/*"  # the route for head/<arg>
            h = self.routes.get(m + " " + star) if arg else None
        if h is None:
            for k in self.routes:
                if k.split(" ", 1)[1] in (path, star):
                    return _err(405, "method not allowed")
            return _err(404, "no such endpoint")
        lazy = isinstance(h, str)
        try:
            if lazy:
                from firmware.services.web import admin
                self.x_busy += 1
                await asyncio.sleep_ms(0)  # loading admin.py (on first use) was a step's work
                h = getattr(admin, h)
                out = await (h(self, req) if arg is None else h(self, req, arg))
            else:
                out = await (h(req) if arg is None else h(req, arg))
        except ValueError as e:  # bad input: (status, reason)
            if len(e.args) == 2 and isinstance(e.args[0], int):
                return _err(e.args[0], e.args[1])
            return _err(400, str(e))
        finally:
            if lazy:
                self.x_busy -= 1
                self.x_at = ticks_ms()
            if m != "GET":  # it may have changed what the status shows
                self._status_answer = None
        return out if isinstance(out, Response) else Response(out)

    # ------------------------------------------------------------ accounts
    def _load(self):
        try:
            a = load_json(ACCOUNT, None, self.log)
        except ValueError:
            a = None
        return a if isinstance(a, dict) and a.get("hash") else {}

    # ---------------------------------------------------------------- status
    async def status_answer(self, server):
        """GET /api/v1/status's answer, whole: pages (or API clients) polling at once
        share one for up to _STATUS_MS while the charger's state stays the same (making
        and writing one takes ~2 ms of the VM's CPU, writing a made one a tenth of it;
        issue 21). The measured values in it are as old as _STATUS_MS at most."""
        now = ticks_ms()
        c = self.app.control.charger
        arb = self.app.arbiter
        of = (c.status(), c.phase, c.pilot.vehicle, c.relay, c.authorized, c.fault,
              c.offered_da, arb.limit, arb.source, self.app.sessions.now.count)
        if self._status_answer is None or of != self._status_of or \
                ticks_diff(now, self._status_at) >= _STATUS_MS:
            # the old answer goes first: never two in RAM at once (a client still
            # writing it holds its own reference)
            self._status_answer = None
            res = Response(self._status_doc())
            server.finish(res, None)
            await asyncio.sleep_ms(0)  # the answer made in one step, written in the next
            out = _Whole()
            await res.write(out)
            self._status_answer = out.buf
            self._status_at = now
            self._status_of = of
        return self._status_answer

    async def _status(self, req):  # HEAD (a GET is status_answer)
        return self._status_doc()

    def _status_doc(self):
        a = self.app
        c = a.control.charger
        arb = a.arbiter
        f = c.fault
        amps = a.sessions.currents()
        app_da = arb.claims[limits.APP]
        out = {
            "type": "AC wallbox (%s)" % a.board.NAME, "serial": self.prov.get("serial"),
            "version": self.version, "status": ch.STATUS_NAMES[c.status()],
            "phase": ch.PHASE_NAMES[c.phase], "vehicle": c.pilot.vehicle,
            "relay": c.relay, "authorized": c.authorized, "auth": a.rfid.auth.enabled,
            "offered_a": c.offered_da / 10, "current_a": [x / 10 for x in amps],
            "power_w": a.sessions.watts(), "energy_wh": a.sessions.now.wh,
            "session_s": self.session_s, "showroom": c.showroom,
            "limit_a": arb.limit / 10, "limit_by": limits.NAMES[arb.source],
            "max_a": self.app.max_app_da() / 10,
            "app_a": None if app_da >= limits.NO_LIMIT else app_da / 10,
            "fault": f, "fault_text": faults.meaning(f) if f else "",
            "last_fault": c.last_fault, "temp_c": c.temp_dc / 10,
            "mains_v": c.mains_dv / 10 if c.mains_dv >= 0 else None,
            "safe_mode": a.supervisor.safe_mode, "not_started": list(a.not_started),
            "time": datalog.stamp(),
            "dip_a": limits.DIP_DA[a.dip] / 10,
            "chart": {"every_s": self.chart_s, "a": list(self.chart_a[:self.chart_n]),
                      "kw": list(self.chart_kw[:self.chart_n])},
        }
        n = getattr(a, "net", None)
        if n is not None:
            ifs = []
            for name, w in (("hotspot", n.ap), ("wifi", n.sta), ("lan", n.lan)):
                if w is not None and w.isconnected():
                    try:
                        mac = ":".join("%02x" % b for b in w.config("mac"))
                    except (ValueError, KeyError, OSError, TypeError, AttributeError):
                        mac = ""
                    ifs.append({"name": name, "ip": w.ifconfig()[0], "mac": mac})
            out["net"] = ifs
            out["wifi"] = n.state
        b = getattr(a, "backend", None)
        out["backend"] = b.status() if b is not None else None
        m = getattr(a, "mqtt", None)
        out["mqtt"] = m.status() if m is not None else "off"
        out["plan"] = a.planning.status()
        return out

    async def _plan(self, req):
        """GET: the plan (docs/planning.md); POST: this session's mode, departure, energy."""
        if req.method == "POST":
            self.app.planning.request(_body(req), "local API")
        return self.app.planning.status()

    # --------------------------------------------------------- local API: charging
    async def _start(self, req):
        self.app.remote_start("local API")
        return {"ok": True, "status": ch.STATUS_NAMES[self.app.control.charger.status()]}

    async def _stop(self, req):
        self.app.remote_stop("local API")
        return {"ok": True}

    async def _current(self, req):
        v = _body(req).get("current_a")
        top = self.app.max_app_da()
        # compared before any arithmetic: 1e308 * 10 is inf, and int(inf) raises
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1000 \
                or not 60 <= int(v * 10 + 0.5) <= top:
            return _err(400, "current_a must be a number from 6 to %d.%d" % (top // 10, top % 10),
                        errors={"current_a": "6 to %d.%d A" % (top // 10, top % 10)})
        da = int(v * 10 + 0.5)
        if not self.app.remote_current(da, "local API"):
            return _err(409, "no vehicle connected: the current applies to a running session")
        return {"ok": True, "current_a": da / 10}

    # ---------------------------------------------------------- configuration

    # ------------------------------------------------------------------ cards

    # ---------------------------------------------------------------- system

def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False
