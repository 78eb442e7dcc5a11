"""A small HTTP client for the web tests: real sockets to the firmware's web server in
the VM, the session cookie and the CSRF token kept like a browser does."""
import http.client
import json
import socket
import time

SERIAL = "WB2611000123"
RECOVERY = "rEcoVery-Pass-42x"
PASSWORD = "garage-door-77"
PROV = json.dumps({"serial": SERIAL, "hotspot_password": "kT9wqPzR4mXa",
                   "recovery_password": RECOVERY, "board": "virtual"})
HEAP = "384k"  # Pico W class; the bench measures the floor


class Client:
    def __init__(self, world):
        self.port = world.web_port
        self.cookie = None
        self.csrf = ""

    def request(self, method, path, body=None, headers=None, token=None, csrf=True,
                timeout=30):
        """(status, JSON object or bytes, headers)."""
        h = dict(headers or {})
        data = body
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        if self.cookie:
            h.setdefault("Cookie", "sid=" + self.cookie)
        if csrf and self.csrf and method not in ("GET", "HEAD"):
            h.setdefault("X-CSRF-Token", self.csrf)
        if token:
            h["Authorization"] = "Bearer " + token
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request(method, path, body=data, headers=h)
            r = c.getresponse()
            raw = r.read()
            hdrs = {k.lower(): v for k, v in r.getheaders()}
        finally:
            c.close()
        for v in [v for k, v in r.getheaders() if k.lower() == "set-cookie"]:
            sid = v.split(";")[0].split("=", 1)[1]
            self.cookie = sid or None
        out = raw
        if hdrs.get("content-type", "").startswith("application/json"):
            out = json.loads(raw)
            if isinstance(out, dict) and "csrf" in out:
                self.csrf = out["csrf"]
        return r.status, out, hdrs

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, {} if body is None else body, **kw)

    def login(self, password=PASSWORD, user="admin"):
        return self.post("/api/login", {"user": user, "password": password})

    def set_up(self, password=PASSWORD):
        """First login with the serial number and the forced password change."""
        st, r, _ = self.login(SERIAL)
        assert st == 200 and r["must_change"], r
        st, r, _ = self.post("/api/password", {"new": password})
        assert st == 200, r
        return self


def wait_web(w, timeout=30):
    """Wait until the firmware's web server accepts connections."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", w.web_port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError("web server not up:\n" + "\n".join(w.console[-20:]))
            time.sleep(0.2)


def raw(w, data, timeout=15, read=True):
    """Send raw bytes on a fresh connection; the whole answer (b"" if closed without)."""
    s = socket.create_connection(("127.0.0.1", w.web_port), timeout=timeout)
    try:
        if data:
            s.sendall(data)
        out = b""
        while read:
            try:
                d = s.recv(4096)
            except (ConnectionResetError, socket.timeout):
                break
            if not d:
                break
            out += d
        return out
    finally:
        s.close()


def status_code(answer):
    line = answer.split(b"\r\n", 1)[0].split()
    return int(line[1]) if len(line) > 1 and line[1].isdigit() else None


def charging(w):
    return w.status() == "Charging" and w.relay_closed()


def start_web_board(start_board, config=None, **kw):
    files = kw.pop("files", {})
    files.setdefault("prov.json", PROV)
    w = start_board(config, heap=kw.pop("heap", HEAP), files=files, web=True, **kw)
    wait_web(w)
    return w
