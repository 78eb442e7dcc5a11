"""The README's first command, run as a new user would: `python3 tools/dev.py run` with
no arguments (a fresh state folder through VBOARD_STATE, else it would use the
repository's vboard-state/), on the documented ports 8800 (panel) and 8080 (the
charger's web interface). It must start a complete, provisioned charger: the panel and
the web interface answer, the printed first login works, a car charges, and the test
central system configured as the backend gets a BootNotification. Any memory error,
traceback or "not started" line in the console fails it.

The fixed ports make it the one test that must never run twice at once: it holds a
lock file while it runs (pytest-xdist workers and other test runs alike) and is in
one xdist group."""
import fcntl
import http.client
import json
import os
import re
import socket
import subprocess
import tempfile
import threading
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PANEL, WEB = 8800, 8080  # README.md and docs/virtual-board.md
NEW_PASSWORD = "front-door-pass-1"
BAD = ("MemoryError", "Traceback", "not started", "memory allocation failed")


@pytest.fixture
def front_door_lock():
    """One front-door test at a time on this machine (it owns the fixed ports)."""
    with open(os.path.join(tempfile.gettempdir(), "wallbox-front-door.lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def port_taken(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers: a listener
    try:  # is in the way, a connection closing (TIME_WAIT) is not
        s.bind(("127.0.0.1", port))
        return False
    except OSError:
        return True
    finally:
        s.close()


class Console:
    """The run command's output, read as it comes."""

    def __init__(self, proc):
        self.lines = []
        self.lock = threading.Lock()
        threading.Thread(target=self._read, args=(proc,), daemon=True).start()

    def _read(self, proc):
        for line in proc.stdout:
            with self.lock:
                self.lines.append(line.rstrip("\n"))

    def text(self):
        with self.lock:
            return "\n".join(self.lines)

    def bad(self):
        return [x for x in self.text().splitlines() if any(b in x for b in BAD)]


def wait(what, pred, console, timeout):
    deadline = time.monotonic() + timeout
    while True:
        got = pred()
        if got:
            return got
        assert not console.bad(), "\n".join(console.bad())
        if time.monotonic() > deadline:
            raise AssertionError("%s: not within %d s; console:\n%s"
                                 % (what, timeout, console.text()[-3000:]))
        time.sleep(0.3)


def request(port, method, path, body=None, cookie=None, csrf=None):
    """(status, JSON or None, session cookie); None when nothing answers yet."""
    h = {"Content-Type": "application/json"}
    if cookie:
        h["Cookie"] = "sid=" + cookie
    if csrf:
        h["X-CSRF-Token"] = csrf
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        c.request(method, path, None if body is None else json.dumps(body), h)
        r = c.getresponse()
        raw = r.read()
        sc = r.getheader("Set-Cookie")
    except OSError:
        return None
    finally:
        c.close()
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    return r.status, data, sc.split(";")[0].split("=", 1)[1] if sc else cookie


@pytest.mark.xdist_group("front-door-ports")
def test_readme_run_command_starts_a_complete_charger(tmp_path, front_door_lock):
    taken = [p for p in (PANEL, WEB) if port_taken(p)]
    if taken:
        reason = ("the README's ports %s are in use on 127.0.0.1 (another virtual board?): "
                  "the front-door test needs them free" % taken)
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    from tools.vboard.csms import CentralSystem
    env = dict(os.environ, VBOARD_STATE=str(tmp_path / "state"), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(["python3", "tools/dev.py", "run"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    console = Console(proc)
    cs = CentralSystem().start()
    try:
        hint = wait("the first-login hint", lambda: re.search(
            r"http://127\.0\.0\.1:8080/\s+first login: user (\w+), password (\w+)",
            console.text()), console, 120)
        user, serial = hint.group(1), hint.group(2)
        assert "http://127.0.0.1:8800/" in console.text()
        assert "CONFIGURATION LABEL" in console.text()  # the first start provisioned it
        wait("the panel", lambda: (request(PANEL, "GET", "/api/state") or (0,))[0] == 200,
             console, 60)
        wait("the web interface", lambda: request(WEB, "GET", "/"), console, 60)
        st, r, cookie = request(WEB, "POST", "/api/login", {"user": user, "password": serial})
        assert st == 200 and r["must_change"], r
        st, r, cookie = request(WEB, "POST", "/api/password", {"new": NEW_PASSWORD}, cookie,
                             r["csrf"])
        assert st == 200, r
        st, r, cookie = request(WEB, "POST", "/api/login", {"user": user,
                                                          "password": NEW_PASSWORD})
        assert st == 200 and not r["must_change"], r
        csrf = r["csrf"]
        # a car, through the world's API: Charging on the panel and in the firmware
        st, _, _ = request(PANEL, "POST", "/api/set", {"plugged": True, "car_state": "C"})
        assert st == 200
        wait("Charging on the panel", lambda: request(PANEL, "GET", "/api/state")[1]
             ["firmware"]["status"] == "Charging", console, 60)
        wait("Charging in the status API", lambda: request(
            WEB, "GET", "/api/v1/status", cookie=cookie)[1]["status"] == "Charging",
            console, 30)
        # the backend: the test central system, then the restart the page asks for
        st, r, _ = request(WEB, "POST", "/api/config", {
            "backend.enabled": True, "backend.url": cs.url(),
            "backend.charge_point_id": "FRONTDOOR"}, cookie, csrf)
        assert st == 200 and r["restart"], r
        st, r, _ = request(WEB, "POST", "/api/restart", {}, cookie, csrf)
        assert st == 200, r
        wait("a BootNotification", lambda: cs.calls("FRONTDOOR", "BootNotification"),
             console, 90)
        time.sleep(2)  # whatever the backend's start prints next
        assert not console.bad(), "\n".join(console.bad())
    finally:
        cs.stop()
        proc.terminate()  # SIGTERM: the run command ends the VM with it
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    for p in (PANEL, WEB):  # nothing left behind holds the ports
        wait("port %d free" % p, lambda p=p: not port_taken(p), console, 20)
