"""The VM process and its link: starts the firmware in the MicroPython VM (restarting it
after a reset, as power-on would), accepts its TCP link, reads its records (output
pins, PWM, LEDs, telemetry, resets) and writes input records. A base class of
world.World, whose state it fills; the physics that turns those records into input
pins is electrical.py's."""
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time

from tools.vboard.link import ROOT, VMDIR, board, vlink


def find_micropython():
    exe = os.path.join(os.path.dirname(sys.executable), "micropython")
    return exe if os.path.exists(exe) else "micropython"


_READ = """import json
from firmware.services.platform import config
try:
    obj = config.load_json(%r, None)
    print(json.dumps({"ok": config._migrate(obj or {}) if %r else obj}))
except ValueError as e:
    print(json.dumps({"error": str(e)}))
"""


def read_flash(state_dir, name, settings=False):
    """A record on the board's flash as the firmware reads it: its own reader
    (services/platform/config.load_json: the checksummed record, else the .bak copy, or plain
    JSON) run in the VM. `settings`: config.json's settings as {key: value}, migrated
    as the firmware does. None when the file is missing; ValueError when it is corrupt."""
    env = dict(os.environ, MICROPYPATH=ROOT + ":.frozen")
    env.pop("VBOARD_LINK", None)
    for attempt in range(3):
        out = subprocess.run([find_micropython(), "-c", _READ % (name, settings)],
                             cwd=state_dir, env=env, stdin=subprocess.DEVNULL,
                             capture_output=True, text=True, timeout=60)
        if out.returncode:
            raise RuntimeError("reading %s in the VM failed:\n%s" % (name, out.stdout + out.stderr))
        lines = out.stdout.strip().splitlines()
        if lines:
            break
        # Seen once in CI: the VM exited 0 having printed nothing (cause not found; it did
        # not recur in 400 parallel reads). The read has no side effect, so it is repeated.
        sys.stderr.write("read_flash: the VM printed nothing (stderr %r); again\n" % out.stderr)
    else:
        raise RuntimeError("reading %s in the VM printed nothing 3 times" % name)
    got = json.loads(lines[-1])
    if "error" in got:
        raise ValueError(got["error"])
    return got["ok"]


_frozen = {}  # VM path -> None if the firmware is frozen into it, else why not


def why_not_frozen(exe):
    """None if the VM binary `exe` has the firmware frozen in, else the reason."""
    exe = os.path.abspath(exe)
    if exe not in _frozen:
        if not os.access(exe, os.X_OK):
            _frozen[exe] = "no VM at %s (set WALLBOX_VM; docs/hardware.md builds it)" % exe
        else:  # run where no firmware folder can shadow the frozen one
            out = subprocess.run([exe, "-c", "import firmware.core.ticks"], cwd=VMDIR,
                                 env=dict(os.environ, MICROPYPATH=".frozen"),
                                 capture_output=True, text=True)
            _frozen[exe] = None if out.returncode == 0 else \
                "%s has no frozen firmware: %s" % (exe, (out.stdout + out.stderr).strip())
    return _frozen[exe]


def frozen_vm_state(root=ROOT):
    """The 32-bit VM with the firmware frozen in: $WALLBOX_VM, else build/unix32/micropython,
    built from the current sources under `root` (the hash its build recorded beside it,
    tools/frozen_sources.py). Returns (path, None, None), or (None, "skipped", why) when
    there is no such VM, or (None, "stale", why) when it holds other firmware sources."""
    from tools.frozen_sources import why_stale
    exe = os.getenv("WALLBOX_VM") or os.path.join(root, "build", "unix32", "micropython")
    exe = os.path.abspath(exe)
    why = why_not_frozen(exe)
    if why:
        return None, "skipped", why
    why = why_stale(exe, root)
    return (None, "stale", why) if why else (exe, None, None)


def frozen_vm():
    """frozen_vm_state() as (path, None), or (None, the reason it cannot be used)."""
    exe, _, why = frozen_vm_state()
    return exe, why


def _compiled_libs():
    """The libraries (microdot) compiled for the VM when the firmware runs from source:
    microdot from source would need the compiler's RAM on top (~160 KB)."""
    import fcntl
    from tools.build import ROOT as _root, build_libs
    out = os.path.join(_root, "build", "vm-libs")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out + ".lock", "w") as lock:  # parallel test workers: one builds, by rename
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.isdir(os.path.join(out, "lib")):
            tmp = "%s.tmp%d" % (out, os.getpid())
            build_libs(tmp)
            if os.path.exists(out):  # a broken one (no lib/)
                import shutil
                shutil.rmtree(out)
            os.rename(tmp, out)
    return os.path.join(out, "lib")


class VmProcess:
    last_sim_heap = None  # sim_heap of the latest VM of any world (tools/bench)

    def set_network(self, index, up):
        """Switch the simulated Wi-Fi network `index` (of VBOARD_NETWORKS) on or off."""
        with self.lock:
            self._write(vlink.NET_UP, index, 1 if up else 0)

    def stall(self, ms):
        """Block the VM's interpreter in one call into C for `ms` (a TLS handshake step,
        a flash erase on a board): soft callbacks, the control tick too, wait; hard IRQs
        run. The VM reports its start and end as "stall_at" events (1, 0)."""
        with self.lock:
            self._write(vlink.STALL, 0, int(ms))

    def _write(self, op, ident, value):
        try:
            self._conn.sendall(struct.pack(vlink.FMT, op, ident, value))
        except OSError:
            pass

    def _on_record(self, op, ident, value):
        now = time.monotonic()
        with self.lock:
            if op == vlink.OUT_PIN:
                if self.pins.get(ident) != value:
                    was = self.relay_closed()
                    if ident == board.RELAY_KEEPALIVE and not value and \
                            self.pins.get(board.RELAY, 0) == 1:
                        self.keepalive_drops += 1
                    self.pins[ident] = value
                    self.relay_opens += was and not self.relay_closed()
                    self.events.append((now, "pin", ident, value))
            elif op == vlink.PWM_DUTY:
                self.duty[ident] = value
                self.events.append((now, "duty", ident, value))
            elif op == vlink.PWM_FREQ:
                self.freq[ident] = value
                self.events.append((now, "freq", ident, value))
            elif op == vlink.RFID_TELE:
                if ident < vlink.R_KEYS:
                    self.rfid[ident] = value
            elif op == vlink.NEO:
                if ident < len(self.leds):
                    self.leds[ident] = ((value >> 16) & 255, (value >> 8) & 255, value & 255)
            elif op == vlink.TELEMETRY:
                if ident < vlink.T_KEYS:
                    self.telemetry[ident] = value
            elif op == vlink.RESET:
                self.resets.append(value)
                if value == vlink.WDT_RESET:  # the chip resets whatever the CPU does
                    self.console.append("virtual board: watchdog expired, resetting")
                    self._reset_to = value
                    proc = self._proc
                    if proc is not None:
                        proc.kill()
            elif op == vlink.FLASH:  # counted with the relay's state the VM saw
                if ident in self.flash_ops:
                    self.flash_ops[ident][1 if value else 0] += 1
                    self.flash_views_differ += bool(value) != self.relay_closed()
            elif op == vlink.HELLO:
                self.boots += 1
            elif op in (vlink.IN_AT, vlink.OUT_AT, vlink.STALL_AT):
                self.events.append((now, {vlink.IN_AT: "in_at", vlink.OUT_AT: "out_at",
                                          vlink.STALL_AT: "stall_at"}[op], ident, value))
            if len(self.events) > 5000:
                del self.events[:1000]
            self._update_pins()
            self.changed.notify_all()

    def _reader(self, conn):
        buf = b""
        while not self._stop.is_set():
            try:
                data = conn.recv(4096)
            except OSError:
                break
            if not data:
                break
            buf += data
            n = len(buf) // vlink.RECORD * vlink.RECORD
            for k in range(0, n, vlink.RECORD):
                self._on_record(*struct.unpack_from(vlink.FMT, buf, k))
            buf = buf[n:]

    def _console(self, proc):
        for line in proc.stdout:
            line = line.rstrip("\n")
            if line.startswith("vboard: simulation heap "):
                self.sim_heap = VmProcess.last_sim_heap = int(line.split()[3])
            with self.lock:
                if line.startswith("vboard: hold "):
                    self.profile.append(line)  # all kept: the console drops old lines
                self.console.append(line)
                if len(self.console) > 500:
                    del self.console[:100]
            if self.echo:
                print("vm|", line, flush=True)

    def vm_command(self):
        return [self.vm, "-X", "heapsize=" + self.heap, "-c", "import " + self.entry]

    def _boot(self, reset_cause):
        """Start the VM and hand it the initial inputs (one power-on)."""
        env = dict(os.environ)
        env.update(self.extra_env)
        # frozen firmware first (as on a board, where only an update slot goes before it)
        paths = (self.vm_dir, ".frozen", self.code_root) if self.frozen else \
            (self.vm_dir, self.code_root, ".frozen")
        env["MICROPYPATH"] = ":".join(paths)
        env["VBOARD_LINK"] = "127.0.0.1:%d" % self._server.getsockname()[1]
        env["VBOARD_RESET_CAUSE"] = str(reset_cause)
        if self.web_port:
            env["VBOARD_WEB_PORT"] = str(self.web_port)
            lib = os.path.join(self.code_root, "lib")  # on a board's sys.path too
            if not (self.frozen or os.path.isdir(os.path.join(lib, "microdot"))):  # source
                lib = _compiled_libs()
            env["MICROPYPATH"] += ":" + lib
        with self.lock:
            self.pins = {}
            self.duty = {}
            self.telemetry = [None] * vlink.T_KEYS
            self.rfid = [None] * vlink.R_KEYS
            self._sent = {}
        proc = subprocess.Popen(self.vm_command(), cwd=self.state_dir, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                bufsize=1)
        self._proc = proc
        threading.Thread(target=self._console, args=(proc,), daemon=True).start()
        self._server.settimeout(20)
        try:
            conn, _ = self._server.accept()
        except socket.timeout:
            proc.kill()
            raise RuntimeError("the VM did not connect:\n" + "\n".join(self.console[-30:]))
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.lock:
            self._conn = conn
            self._update_pins()
            for pin in (board.CP_ADC,):
                self._write(vlink.COUPLE, pin, board.CP_PWM)
            self._write(vlink.KEEPALIVE, board.RELAY_KEEPALIVE, board.KEEPALIVE_MS * 1000)
            self._write(vlink.COIL, board.RELAY, 0)
            self._write(vlink.READY, 0, 0)
        t = threading.Thread(target=self._reader, args=(conn,), daemon=True)
        t.start()
        return proc, conn, t

    def _supervise(self):
        cause = vlink.PWRON_RESET
        while not self._stop.is_set():
            try:
                proc, conn, reader = self._boot(cause)
            except RuntimeError as e:
                with self.lock:
                    self.console.append(str(e))
                    self.running = False
                    self.changed.notify_all()
                return
            code = proc.wait()
            # the VM is gone, so its link ends: everything it sent is read before the next
            # boot (with 2 s a busy host lost the reset's cause: a hard reset counted as
            # none); the bound only guards against a reader that hangs
            reader.join(timeout=30)
            with self.lock:
                self._conn = None
                self.changed.notify_all()
            conn.close()
            if self._stop.is_set():
                break
            if self._reset_to is not None:  # a power cycle, or the watchdog
                cause, self._reset_to = self._reset_to, None
                continue
            if code != vlink.RESET_EXIT:
                with self.lock:
                    self.console.append("virtual board: VM exited with code %s" % code)
                    self.running = False
                    self.changed.notify_all()
                break
            cause = self.resets[-1] if self.resets else vlink.HARD_RESET

    @property
    def web_url(self):
        """The firmware's web interface (and local API), served by the firmware itself."""
        return "http://127.0.0.1:%d" % self.web_port

    def _install_www(self):
        """Put the web interface's gzipped files on the board's flash, as deploy does:
        from the build when the VM runs it, else freshly built from firmware/web."""
        import shutil
        dst = os.path.join(self.state_dir, "www")
        src = os.path.join(self.code_root, "www")
        if os.path.isdir(src):
            if os.path.exists(dst):
                shutil.rmtree(dst)
            shutil.copytree(src, dst)
        else:
            from tools.build import build_www
            build_www(dst)

    def start(self):
        if self.web_port == 0:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            self.web_port = s.getsockname()[1]
            s.close()
        if self.web_port:
            self._install_www()
        self._server = socket.socket()
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(1)
        from tools.vboard.meters import attach
        self.meters = attach(self)  # the meters config.json names, served by pymodbus
        self.running = True
        for target in (self._supervise, self._physics):
            t = threading.Thread(target=target, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self):
        self._stop.set()
        with self.lock:
            self._physics_wake.notify_all()
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        if self._server is not None:
            self._server.close()
        if self.meters is not None:
            self.meters.stop()
        self.running = False

    def power_cycle(self):
        """Cut the power and restore it: the VM restarts with a power-on reset."""
        proc = self._proc
        if proc is not None:
            self._reset_to = vlink.PWRON_RESET
            proc.kill()
