"""A real HTTP(S) server on 127.0.0.1 for the VM tests: hands out `files` by path (in
8 KB pieces with `pause_s` between them, so a download can be watched) and records PUT
uploads in `puts`."""
import http.server
import threading
import time


class FileServer:
    def __init__(self, tls=None, pause_s=0.0):
        """`tls`: a server-side ssl.SSLContext for https://."""
        self.files = {}
        self.puts = {}
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
                for i in range(0, len(data), 8192):
                    self.wfile.write(data[i:i + 8192])
                    time.sleep(pause_s)

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
        self.httpd.shutdown()
        self.httpd.server_close()
