"""A real MQTT broker for the tests and the bench: Debian's Mosquitto on a free port of
127.0.0.1, in a directory of its own (configuration, password file, persistence), and
an observer (paho-mqtt) that records every message the broker routes.

    b = Broker(tmp_dir, users={"wallbox": "secret"}).start()
    o = Observer(b.port, "observer", "pw")    # the observer's account is added for it
    o.wait(lambda o: o.last("wallbox/x/state") is not None)
    b.restart()                                # same port, retained messages persisted
"""
import json
import os
import socket
import subprocess
import threading
import time

MOSQUITTO = "/usr/sbin/mosquitto"
OBSERVER = ("observer", "observer-pw")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Broker:
    def __init__(self, directory, users=None, tls=False):
        self.dir = str(directory)
        self.port = free_port()
        self.tls_port = free_port() if tls else None  # a second listener, TLS (self-signed)
        self.users = dict(users or {})
        self.users[OBSERVER[0]] = OBSERVER[1]
        self.proc = None

    def start(self):
        pw = os.path.join(self.dir, "passwd")
        open(pw, "w").close()
        for user, password in self.users.items():
            subprocess.run(["mosquitto_passwd", "-b", pw, user, password], check=True,
                           capture_output=True)
        conf = os.path.join(self.dir, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write("listener %d 127.0.0.1\nallow_anonymous false\npassword_file %s\n"
                    "persistence true\npersistence_location %s/\nautosave_interval 1\n"
                    "log_dest file %s/mosquitto.log\n" % (self.port, pw, self.dir, self.dir))
            if self.tls_port:
                key, cert = os.path.join(self.dir, "key.pem"), os.path.join(self.dir, "cert.pem")
                if not os.path.exists(cert):
                    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                                    "-keyout", key, "-out", cert, "-days", "2", "-subj",
                                    "/CN=127.0.0.1"], check=True, capture_output=True)
                f.write("listener %d 127.0.0.1\ncertfile %s\nkeyfile %s\n" % (
                    self.tls_port, cert, key))
            if os.geteuid() == 0:  # stay root: the tests' directory is private to its owner
                f.write("user root\n")
        self.proc = subprocess.Popen([MOSQUITTO, "-c", conf], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 10:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("mosquitto ended: see %s/mosquitto.log" % self.dir)
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not listen within 10 s")

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()  # SIGTERM: mosquitto saves its retained messages first
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def restart(self):
        self.stop()
        return self.start()

    def log(self):
        try:
            with open(os.path.join(self.dir, "mosquitto.log")) as f:
                return f.read()
        except OSError:
            return ""


class SilentServer:
    """Accepts TCP connections and never answers (a broker that hangs)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.conns = []
        self._stop = False
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            self.conns.append(c)
            self.accepted += 1

    def close(self):
        self._stop = True
        for c in self.conns:
            c.close()
        self.sock.close()


class Observer:
    """A paho-mqtt client subscribed to everything: `messages` is [(topic, payload,
    retained)] in arrival order, each with its arrival time in `times`."""

    def __init__(self, port, user=OBSERVER[0], password=OBSERVER[1], topic="#"):
        import paho.mqtt.client as paho
        self.messages = []
        self.times = []
        self.lock = threading.Lock()
        self.connected = threading.Event()
        self.c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="observer-%d" % port)
        self.c.username_pw_set(user, password)
        self.c.on_message = self._message
        self.c.on_connect = lambda c, u, f, rc, p=None: (c.subscribe(topic, 1),
                                                          self.connected.set())
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()
        if not self.connected.wait(10):
            raise RuntimeError("observer could not connect")

    def _message(self, client, userdata, msg):
        with self.lock:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))
            self.times.append(time.monotonic())

    def last(self, topic):
        """The latest payload on `topic` (bytes), or None."""
        with self.lock:
            for t, p, _ in reversed(self.messages):
                if t == topic:
                    return p
        return None

    def last_json(self, topic):
        p = self.last(topic)
        return json.loads(p) if p else None

    def topics(self, prefix=""):
        with self.lock:
            return {t for t, _, _ in self.messages if t.startswith(prefix)}

    def wait(self, pred, timeout=20):
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if pred(self):
                return
            time.sleep(0.05)
        raise AssertionError("MQTT condition not met within %d s; last messages: %r" % (
            timeout, self.messages[-5:]))

    def send(self, topic, payload, retain=False, qos=1):
        self.c.publish(topic, payload, qos=qos, retain=retain).wait_for_publish(10)

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()
