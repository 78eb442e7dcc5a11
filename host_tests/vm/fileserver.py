"""A real HTTP(S) server on 127.0.0.1 for the VM tests: hands out `files` by path (in
8 KB pieces with `pause_s` between them, so a download can be watched) and records PUT
uploads in `puts`. `cuts[path] = (n, how)` ends that download after n bytes of its
body: "close" (a clean close: a truncated file), "reset" (a TCP reset: the connection
lost) or "stall" (nothing more is sent until the server stops)."""
import http.server
import socket
import struct
import threading
import time


class FileServer:
    def __init__(self, tls=None, pause_s=0.0):
        """`tls`: a server-side ssl.SSLContext for https://."""
        self.files = {}
        self.puts = {}
        self.cuts = {}
        self.stalled = threading.Event()
        self.scheme = "https" if tls else "http"
        srv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                data = srv.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                n, how = srv.cuts.get(self.path, (len(data), None))
                for i in range(0, n, 8192):
                    self.wfile.write(data[i:min(n, i + 8192)])
                    time.sleep(pause_s)
                self.wfile.flush()
                if how == "reset":
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                               struct.pack("ii", 1, 0))
                    self.connection.close()
                elif how == "stall":
                    srv.stalled.wait()
                self.close_connection = True

            def do_PUT(self):
                n = int(self.headers["Content-Length"])
                srv.puts[self.path] = self.rfile.read(n).decode()
                self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path):
        return "%s://127.0.0.1:%d%s" % (self.scheme, self.httpd.server_address[1], path)

    def stop(self):
        self.stalled.set()
        self.httpd.shutdown()
        self.httpd.server_close()
