"""The virtual board's localhost JSON API and panel page (docs/virtual-board.md)."""
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_BODY = 4096


class Handler(BaseHTTPRequestHandler):
    world = None  # set by serve()
    server_version = "vboard"

    def log_message(self, *_):
        pass

    def _json(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            raise ValueError("body larger than %d bytes" % MAX_BODY)
        data = json.loads(self.rfile.read(n) or b"{}")
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        return data

    def do_GET(self):
        w = self.world
        if self.path in ("/", "/index.html"):
            with open(os.path.join(HERE, "panel.html"), "rb") as f:
                body = f.read()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/api/state":
            self._json(200, w.state())
        elif self.path == "/api/console":
            with w.lock:
                self._json(200, {"lines": w.console[-200:]})
        else:
            self._json(404, {"error": "no such endpoint"})

    def do_POST(self):
        w = self.world
        try:
            data = self._body()
            if self.path == "/api/set":
                w.set(**data)
            elif self.path == "/api/press":
                w.press(data.get("button"), int(data.get("ms", 0)))
            elif self.path == "/api/power-cycle":
                w.power_cycle()
            elif self.path == "/api/rfid":
                w.rfid_action(**data)
            else:
                self._json(404, {"error": "no such endpoint"})
                return
        except (KeyError, ValueError, TypeError) as e:
            self._json(400, {"error": str(e).strip("'\"")})
            return
        self._json(200, w.state())


def serve(world, port=8800):
    """Serve the API on 127.0.0.1 only; returns the server (its thread is a daemon)."""
    handler = type("BoundHandler", (Handler,), {"world": world})
    httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd
