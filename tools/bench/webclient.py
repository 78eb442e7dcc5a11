"""The bench's HTTP client for the firmware's web interface on 127.0.0.1: one request
(`request`) and browsers loading the status and the page at once (`browsers`). Used by
the web figures (__main__.py, web_status.py, latency.py, failsafe.py)."""
import http.client
import json
import threading

PAGE = ("/api/v1/status", "/", "/app.js", "/style.css")  # what a browser polls and loads


def request(port, method, path, body=None, cookie=None, csrf=None, raw=None, timeout=20):
    """(status, body bytes, the answer's headers, cookie): `body` is sent as JSON, `raw` as
    it is; the cookie is the session the answer set, else `cookie`. A new connection
    each time (as the firmware answers one request per connection)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    h = {}
    if body is not None:
        raw = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    if cookie:
        h["Cookie"] = "sid=" + cookie
    if csrf:
        h["X-CSRF-Token"] = csrf
    try:
        c.request(method, path, raw, h)
        r = c.getresponse()
        data = r.read()
        headers = r.headers  # case-insensitive
    finally:
        c.close()
    sc = r.getheader("Set-Cookie")
    if sc:
        cookie = sc.split(";")[0].split("=", 1)[1] or None
    return r.status, data, headers, cookie


def browsers(port, cookie, n=4, rounds=10):
    """`n` clients at once, each loading PAGE `rounds` times like a browser (the status
    and the page's files); returns the failures."""
    fails = []

    def client():
        for _ in range(rounds):
            for path in PAGE:
                try:
                    st = request(port, "GET", path, cookie=cookie, timeout=60)[0]
                except OSError as e:
                    fails.append(repr(e))
                    continue
                if st != 200:
                    fails.append(st)

    ts = [threading.Thread(target=client) for _ in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return fails
