"""Attacks on the web server of the firmware in the VM, while a car charges: every route
without a session, CSRF, path traversal, oversized and malformed requests, idle and
surplus connections, login brute force, and property-based fuzzing of the settings
API. None may crash the server, change a setting or interrupt charging."""
import json
import os
import socket
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webclient import (PASSWORD, SERIAL, Client, charging, raw, start_web_board,
                       status_code)

# Every endpoint (method, path) behind a session; the local API ones also take a token.
ROUTES = [("GET", "/api/session"), ("POST", "/api/logout"), ("POST", "/api/password"),
          ("GET", "/api/user"), ("POST", "/api/wizard"), ("POST", "/api/tokens"),
          ("DELETE", "/api/tokens/abcd"), ("GET", "/api/v1/status"),
          ("POST", "/api/v1/start"), ("POST", "/api/v1/stop"), ("POST", "/api/v1/current"),
          ("GET", "/api/config"), ("POST", "/api/config"), ("GET", "/api/config/export"),
          ("POST", "/api/config/import"), ("POST", "/api/time"), ("GET", "/api/wifi/scan"),
          ("POST", "/api/meter/test"), ("GET", "/api/cards"), ("POST", "/api/cards"),
          ("PUT", "/api/cards/A1B2C3D4"), ("DELETE", "/api/cards/A1B2C3D4"),
          ("GET", "/api/log"), ("GET", "/api/log/all"), ("POST", "/api/restart"),
          ("POST", "/api/update"), ("POST", "/api/factory-reset")]


@pytest.fixture
def box(start_board):
    """A charging car and an administrator already set up; the settings file's text."""
    w = start_web_board(start_board, plugged=True)
    c = Client(w).set_up()
    w.wait_for(charging, 20)
    yield w, c
    print("\n".join(w.console[-40:]))  # shown when the test failed


def settings_text(w):
    with open(os.path.join(w.state_dir, "config.json")) as f:
        return f.read()


def still_fine(w, c):
    """The server answers, the car still charges, the log shows no crash."""
    assert charging(w), w.state()["firmware"]
    assert c.get("/api/v1/status")[0] == 200
    assert not [x for x in w.console if "crashed" in x or "safe mode" in x]


def test_every_route_needs_a_session(box):
    w, c = box
    before = settings_text(w)
    anon = Client(w)
    for method, path in ROUTES:
        st, r, _ = anon.request(method, path, {} if method in ("POST", "PUT") else None)
        assert st == 401 and r["error"] == "not logged in", (method, path, st, r)
        st, r, _ = anon.request(method, path, None, headers={"Cookie": "sid=" + "0" * 32})
        assert st == 401, (method, path)
    # public: the pages themselves, login and recovery
    assert anon.get("/")[0] == 200 and anon.get("/app.js")[0] == 200
    assert anon.post("/api/login", {"user": "admin", "password": "x"})[0] == 401
    assert settings_text(w) == before
    still_fine(w, c)


def test_changes_need_the_csrf_token_and_the_same_origin(box):
    w, c = box
    before = settings_text(w)
    change = {"device.showroom": True}
    st, r, _ = c.post("/api/config", change, csrf=False)
    assert st == 403 and "CSRF" in r["error"]
    st, r, _ = c.post("/api/config", change, headers={"X-CSRF-Token": "f" * 32})
    assert st == 403
    st, r, _ = c.post("/api/config", change, headers={"Origin": "http://evil.example"})
    assert st == 403 and "cross-site" in r["error"]
    st, r, _ = c.post("/api/v1/stop", csrf=False)
    assert st == 403
    # a token (no cookie) needs no CSRF token: it is not sent by browsers on their own
    st, t, _ = c.post("/api/tokens", {"label": "t"})
    assert Client(w).get("/api/v1/status", token=t["token"])[0] == 200
    assert settings_text(w) == before
    still_fine(w, c)


@pytest.mark.parametrize("path", [
    "/../config.json", "/..%2fconfig.json", "/%2e%2e/prov.json", "/prov.json",
    "/web.json", "/config.json", "/www/index.html.gz", "/.hidden.js", "/index.html.gz",
    "/..", "//etc/passwd", "/app.js/../../prov.json", "/firmware/app.mpy", "/cards.json",
    "/api/../prov.json", "/a%00.js", "/%00",
])
def test_no_file_outside_the_web_pages(start_board, path):
    w = start_web_board(start_board)
    a = raw(w, b"GET " + path.encode() + b" HTTP/1.0\r\n\r\n")
    code = status_code(a)
    assert code in (400, 401, 404), a[:200]
    assert SERIAL.encode() not in a and b"recovery" not in a and b"crc" not in a


def test_oversized_and_malformed_requests_are_refused(box):
    w, c = box
    before = settings_text(w)
    cases = [
        (b"GET /" + b"a" * 3000 + b" HTTP/1.1\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\n" + b"X-Big: " + b"b" * 3000 + b"\r\n\r\n", 431),
        (b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(40)) + b"\r\n", 431),
        (b"POST /api/login HTTP/1.1\r\nContent-Length: 999999\r\n\r\n", 413),
        (b"POST /api/config/import HTTP/1.1\r\nContent-Length: 17000\r\n\r\n", 413),
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET /\r\n\r\n", 400),
        (b"GET noslash HTTP/1.1\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\n\r\n", 505),
        (b"BREW /pot HTTP/1.1\r\n\r\n", 501),
        (b"GET / HTTP/1.1\r\nContent-Length: -5\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nContent-Length: 12abc\r\n\r\n", 400),
        (b"POST /api/login HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
         b"5\r\nhello\r\n0\r\n\r\n", 501),
        (b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nnocolon\r\n\r\n", 400),
        (b"GET /\xff\xfe HTTP/1.1\r\n\r\n", 400),
        (b"POST /api/login HTTP/1.1\r\nContent-Length: 20\r\n\r\nnot json at all!!!!!", 400),
        (b"POST /api/login HTTP/1.1\r\nContent-Length: 2\r\n\r\n[]", 400),
        (b"POST /api/login HTTP/1.1\r\nContent-Length: 10\r\n\r\n{\"a\"", 408),  # short body
    ]
    for data, code in cases:
        a = raw(w, data)
        assert status_code(a) == code, (data[:60], a[:120])
        assert charging(w)
    # binary noise: an answer or a closed connection, never a hang or a crash
    for n in (1, 100, 5000):
        raw(w, os.urandom(n) + b"\r\n\r\n")
    assert settings_text(w) == before
    still_fine(w, c)


def test_idle_and_slow_connections_are_dropped_and_others_served(box):
    w, c = box
    idle = socket.create_connection(("127.0.0.1", w.web_port))
    slow = socket.create_connection(("127.0.0.1", w.web_port))
    slow.sendall(b"GET / HTTP/1.1\r\n")  # then nothing more
    t0 = time.monotonic()
    assert c.get("/api/v1/status")[0] == 200  # served meanwhile
    for s in (idle, slow):
        s.settimeout(15)
        data = b""
        while True:
            d = s.recv(1024)
            if not d:
                break
            data += d
        s.close()
        assert data == b"" or status_code(data) == 408
    assert time.monotonic() - t0 < 14  # dropped by the server, not by our timeout
    still_fine(w, c)


def test_a_crowd_of_connections_is_bounded_and_recovers(box):
    w, c = box
    crowd = []
    for _ in range(20):
        try:
            crowd.append(socket.create_connection(("127.0.0.1", w.web_port), timeout=5))
        except OSError:
            break
    answers = []
    for s in crowd[:12]:
        try:
            s.settimeout(10)
            answers.append(s.recv(200))
        except (socket.timeout, OSError):
            answers.append(None)
    busy = [a for a in answers if a and status_code(a) == 503]
    assert busy, answers  # beyond the bound: told to come back
    for s in crowd:
        s.close()
    time.sleep(6)  # the idle ones time out
    for _ in range(5):
        assert c.get("/api/v1/status")[0] == 200
    still_fine(w, c)


def test_login_brute_force_backs_off(box):
    w, c = box
    guesses = Client(w)
    codes = [guesses.login("guess-%d" % i)[0] for i in range(4)]
    assert codes[:3] == [401, 401, 401]
    st, r, h = guesses.login(PASSWORD)  # even the right one waits now
    assert st == 429 and r["wait_s"] >= 1 and "retry-after" in h
    time.sleep(r["wait_s"] + 0.2)
    assert guesses.login("guess-x")[0] == 401
    st, r, _ = guesses.login(PASSWORD)
    assert st == 429 and r["wait_s"] >= 2  # it grows
    time.sleep(r["wait_s"] + 0.2)
    assert guesses.login(PASSWORD)[0] == 200  # and a success resets it
    assert Client(w).login("wrong")[0] == 401
    assert Client(w).login(PASSWORD)[0] == 200
    still_fine(w, c)


def test_many_requests_in_parallel_do_not_stall_charging(box):
    w, c = box
    errors = []

    def hammer(n):
        cl = Client(w)
        cl.cookie, cl.csrf = c.cookie, c.csrf
        for _ in range(n):
            try:
                st, _, _ = cl.get("/api/v1/status")
                if st not in (200, 503):
                    errors.append(st)
                cl.get("/app.js")
            except OSError as e:
                errors.append(repr(e))

    ts = [threading.Thread(target=hammer, args=(20,)) for _ in range(3)]  # within the bound
    for t in ts:
        t.start()
    while any(t.is_alive() for t in ts):
        assert charging(w)
        time.sleep(0.1)
    assert not errors, errors
    still_fine(w, c)


KEYS = ["charging.max_current_a", "charging.cable_a", "charging.phases", "net.channel",
        "net.wifi_password", "net.hotspot_ssid", "meter.host", "meter.port",
        "backend.url", "proxy.port", "time.ntp_server", "time.utc_offset_min", "no.such",
        "", "house.fuse_a", "auth.rfid_gain"]
VALUES = st.one_of(st.none(), st.booleans(), st.integers(-10 ** 12, 10 ** 12),
                   st.integers(0, 70), st.floats(allow_nan=True), st.text(max_size=80),
                   st.lists(st.integers(), max_size=3),
                   st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))
BODIES = st.one_of(
    st.dictionaries(st.sampled_from(KEYS), VALUES, min_size=1, max_size=5),
    st.dictionaries(st.text(max_size=30), VALUES, max_size=4),
    st.lists(VALUES, max_size=3), VALUES,
    st.binary(max_size=300))


def test_fuzzing_the_settings_api_never_breaks_anything(start_board):
    """Refused bodies change nothing (file and running values); accepted ones change
    exactly what they name; the server and the charging go on."""
    w = start_web_board(start_board, plugged=True)
    c = Client(w).set_up()
    w.wait_for(charging, 20)
    seen = {}
    state = {"text": settings_text(w), "values": c.get("/api/config")[1]["values"]}

    @settings(max_examples=150, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(BODIES)
    def one(body):
        if isinstance(body, bytes):
            data = body
        else:
            try:
                data = json.dumps(body, allow_nan=True).encode()
            except ValueError:
                return
        code, r, _ = c.request("POST", "/api/config", data,
                               headers={"Content-Type": "application/json"})
        seen[code] = seen.get(code, 0) + 1
        assert code in (200, 400), (body, code, r)
        values = c.get("/api/config")[1]["values"]
        if code == 400:
            assert settings_text(w) == state["text"], body
            assert values == state["values"], body
        else:
            assert isinstance(body, dict) and body and set(body) <= set(values)
            for k in body:
                assert values[k] == body[k] or str(values[k]) == str(body[k]).strip()
            state["text"] = settings_text(w)
            state["values"] = values
        assert charging(w), (body, w.state()["firmware"])

    one()
    assert seen.get(400, 0) > 100
    assert c.get("/api/v1/status")[0] == 200
    assert not [x for x in w.console if "crashed" in x or "safe mode" in x]


def test_other_host_names_are_refused_against_dns_rebinding(box):
    """A page of evil.example whose name was rebound to the box's address sends the
    box's requests with Host (and Origin) evil.example: refused, for every request."""
    w, c = box
    before = settings_text(w)
    port = w.web_port
    evil = {"Host": "evil.example", "Origin": "http://evil.example"}
    anon = Client(w)
    st, r, _ = anon.post("/api/login", {"user": "admin", "password": PASSWORD}, headers=evil)
    assert st in (421, 403) and r["error"] and anon.cookie is None, (st, r)
    for host in ("evil.example", "evil.example:%d" % port, "127.0.0.1.evil.example",
                 "127.0.0.1:%d" % (port + 1), "wallbox-x.local", ""):
        st, r, _ = anon.post("/api/login", {"user": "admin", "password": PASSWORD},
                             headers={"Host": host})
        assert st == 421 and "host" in r["error"], (host, st, r)
        assert c.get("/api/v1/status", headers={"Host": host})[0] == 421, host
        assert c.get("/", headers={"Host": host})[0] == 421, host
    # an Origin, when sent, must be the same box: on reads too
    for origin in ("http://evil.example", "null", "http://127.0.0.1:%d.evil" % port,
                   "https://127.0.0.1:%d" % port):
        st, r, _ = c.get("/api/v1/status", headers={"Origin": origin})
        assert st == 403 and "cross-site" in r["error"], (origin, st, r)
    # its own names: the address it serves on, localhost on the virtual board, the
    # host name (net.hostname, else wallbox-<serial>) and its mDNS form
    for host in ("127.0.0.1:%d" % port, "localhost:%d" % port,
                 "wallbox-%s:%d" % (SERIAL.lower(), port),
                 "WALLBOX-%s.local:%d" % (SERIAL, port)):
        assert c.get("/api/v1/status", headers={"Host": host,
                                                "Origin": "http://" + host})[0] == 200, host
    assert Client(w).login()[0] == 200  # http.client sends Host 127.0.0.1:<port>
    assert status_code(raw(w, b"GET / HTTP/1.0\r\n\r\n")) == 200  # no Host: not a browser
    assert settings_text(w) == before
    still_fine(w, c)


class Slowloris:
    """`n` connections held open to the box: half idle (nothing sent), half slow (a
    request begun, one more header line a second). A connection the box closes is
    opened again at the next tick, as the attack tools do. Bounded: stop() ends it."""

    def __init__(self, port, n=16):
        self.port = port
        self.socks = [None] * n
        self.opened = 0
        self.dropped = 0
        self.running = True
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def open(self, i):
        try:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=2)
        except OSError:
            return None
        s.setblocking(False)
        if i % 2:
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        self.opened += 1
        return s

    def run(self):
        while self.running and self.opened < 2000:
            for i, s in enumerate(self.socks):
                if s is not None:
                    try:
                        if s.recv(512) == b"":
                            raise ConnectionResetError
                        s.close()  # an answer (408, 503): the box is done with it
                        s = None
                    except BlockingIOError:
                        if i % 2:
                            try:
                                s.send(b"X-Slow: 1\r\n")
                            except OSError:
                                pass
                    except OSError:
                        s.close()
                        s = None
                    if s is None:
                        self.dropped += 1
                if s is None:
                    s = self.open(i)
                self.socks[i] = s
            time.sleep(1)

    def stop(self):
        self.running = False
        self.thread.join(10)
        for s in self.socks:
            if s is not None:
                s.close()


def test_slow_and_idle_connections_do_not_starve_the_others(box):
    """16 connections held idle or slow: nearly every legitimate request is answered,
    the others get a clean 503, never a reset or a hang; charging goes on."""
    w, c = box
    attack = Slowloris(w.web_port)
    try:
        deadline = time.monotonic() + 10
        while attack.opened < 16 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert attack.opened >= 16
        codes = []
        for _ in range(30):
            try:
                codes.append(c.get("/api/v1/status", timeout=15)[0])
            except OSError as e:
                codes.append(repr(e))
            assert charging(w)
            time.sleep(0.2)
    finally:
        attack.stop()
    answered = codes.count(200)
    assert answered + codes.count(503) == len(codes), codes
    assert answered >= 0.9 * len(codes), (codes, attack.opened, attack.dropped)
    still_fine(w, c)
