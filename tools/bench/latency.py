"""Event-loop latency (issue 21): how long one task holds the event loop, per scenario.

One board with everything that answers the outside world switched on (web interface,
backend, card reader with a whitelist, a Modbus meter) runs the scenarios below one
after the other with the loop-hold profiler on (tools/vboard/vm/vboard_profile.py,
VBOARD_PROFILE): every step of every task longer than PROFILE_US is printed with its
task's name, and each scenario keeps its longest. The budget is BUDGET_MS per step.
The bench runs them on the 32-bit VM with the firmware frozen in (as a board runs it:
its names in the image's sorted pool, not the RAM pool every new string is looked up
in; docs/decisions.md, "Event-loop latency") and again on the 64-bit VM from .mpy
files; `board_est_ms` turns a VM figure into an RP2040's (docs/hardware.md).

Used by tools/bench (the figures) and host_tests/vm/test_loop_holds.py (the budget,
with a wide margin).
"""
import json
import math
import os
import socket
import subprocess
import time

from tools.bench import webclient

BUDGET_MS = 5
PROFILE_US = 1000  # steps longer than this are printed by the VM
PROFILE_ENV = {"VBOARD_PROFILE": str(PROFILE_US)}
SERIAL = "WB0000000021"
PASSWORD = "latency-pass-21"
CP_ID = "LATENCY21"
UPDATE_KEY = bytes(range(32))
CARDS = {"version": 1, "master": "04112233445566",
         "cards": {"04112233445566": "", "A1B2C3D4": "", "04AABBCCDDEEFF001122": ""}}

# The board scale (docs/hardware.md, "Speed: the VM against the boards"): the kernels of
# tools/rp2040/speed.py timed on the emulated RP2040 (tools/rp2040/speed.mjs: the Pico W
# image, rp2040js 1.4.1, cycle-counted at 125 MHz), us per run, 2026-12-03. The bench
# times the same kernels on the VM it runs on; the scale is the geometric mean of the
# ratios (board time / VM time).
RP2040_US = {"interp": 20316.8, "encode": 6553.6, "text": 19326.8, "pbkdf2": 33585.8}
# ESP32 (160 MHz, MicroPython's default) against the RP2040 (125 MHz): 15.4 s / 19.8 s
# for the same MicroPython benchmark, MicroPython 1.24.1, published by S. Russell
# ("Parallel MicroPython Benchmarking", scruss.com, 2025); not measured here.
ESP32_PER_RP2040 = 15.4 / 19.8
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPEED = os.path.join(ROOT, "tools", "rp2040", "speed.py")


def vm_speed(frozen=None):
    """speed.py's kernels on the VM (us per run), the firmware from the source tree;
    `frozen`: on that VM with the firmware frozen in, from its image."""
    from tools.vboard.world import find_micropython
    env = dict(os.environ, MICROPYPATH=".frozen" if frozen else ROOT + ":.frozen")
    env.pop("VBOARD_LINK", None)
    out = subprocess.run([frozen or find_micropython(), SPEED], env=env, capture_output=True,
                         text=True, timeout=300, check=True)
    return json.loads(out.stdout.split("SPEED ", 1)[1])


def ratio(slow, fast):
    """How many times longer `slow` takes than `fast` over speed.py's kernels (the
    geometric mean of the ratios)."""
    logs = [math.log(slow[k] / fast[k]) for k in RP2040_US]
    return math.exp(sum(logs) / len(logs))


def board_est_ms(vm_ms, scale):
    return round(vm_ms * scale, 1)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def board_setup(cs_url, meter_port, update_key=UPDATE_KEY):
    """(config, files) for the scenario board: web, backend, cards and a meter on."""
    config = {"backend.enabled": True, "backend.url": cs_url, "backend.charge_point_id": CP_ID,
              "backend.retry_max_s": 2, "backend.schedule_wait_s": 0,
              "auth.enabled": True, "meter.enabled": True, "meter.transport": "tcp",
              "meter.model": "sdm630", "meter.host": "127.0.0.1", "meter.port": meter_port,
              "house.fuse_a": 40}
    from tools import bundle
    public = bundle.public_bytes(bundle.private_key(update_key))
    prov = {"serial": SERIAL, "board": "virtual", "update_key": public.hex()}
    return config, {"prov.json": json.dumps(prov), "cards.json": json.dumps(CARDS)}


def holds(w, since=0):
    """[(hold_us, task)] the profiler printed from its line `since` on (World.profile:
    all of them, where the console keeps only its last lines)."""
    out = []
    for line in w.profile[since:]:
        f = line.split()
        out.append((int(f[2]), f[3]))
    return out


class Web:
    """A browser's session: cookie and CSRF token."""

    def __init__(self, w):
        self.port = w.web_port
        self.cookie = None
        self.csrf = ""

    def request(self, method, path, body=None, raw=None, timeout=60):
        st, data, headers, self.cookie = webclient.request(
            self.port, method, path, body, self.cookie,
            self.csrf if method != "GET" else None, raw, timeout)
        if headers.get("Content-Type", "").startswith("application/json"):
            data = json.loads(data)
            if isinstance(data, dict) and "csrf" in data:
                self.csrf = data["csrf"]
        return st, data


def wait_web(w, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return Web(w).request("GET", "/api/v1/status", timeout=5)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def _update_bundle(code_root):
    """A bundle signed with UPDATE_KEY whose last file's hash is wrong: uploaded,
    verified and refused at the end, so the board goes on (no restart)."""
    from tools import bundle
    files = bundle.collect(code_root)
    data = bytearray(bundle.make(files, "9.9.9", key=UPDATE_KEY))
    data[-10] ^= 0xFF
    return bytes(data)


class Scenarios:
    """The scenarios on one started board (`w`), with the central system `cs`."""

    def __init__(self, w, cs, code_root, status_rounds=10, pause_s=2.0):
        self.w = w
        self.pause_s = pause_s  # how long each scenario lets the board run on
        self.cs = cs
        self.code_root = code_root
        self.status_rounds = status_rounds
        self.web = Web(w)
        self.fails = []
        self.took = {}  # scenario: seconds

    def _ok(self, got, what):
        st, data = got
        if st != 200:
            self.fails.append("%s: %s %s" % (what, st, data))
        return data

    def idle(self):
        self.w.wait_for(lambda w: w.rfid_state()["reader"] == "ok", 30)
        time.sleep(self.pause_s)

    def login(self):  # the serial once, the password change, then a login (PBKDF2)
        wait_web(self.w)
        self._ok(self.web.request("POST", "/api/login", {"user": "admin",
                                                         "password": SERIAL}), "first login")
        self._ok(self.web.request("POST", "/api/password", {"new": PASSWORD}), "password")
        self._ok(self.web.request("POST", "/api/login", {"user": "admin",
                                                         "password": PASSWORD}), "login")

    def status(self):  # the load; its round trips are tools/bench/web_status.py's figure
        self.fails += webclient.browsers(self.w.web_port, self.web.cookie, 4, self.status_rounds)

    def config(self):
        cfg = self._ok(self.web.request("GET", "/api/config"), "config")
        self._ok(self.web.request("POST", "/api/config", {"charging.max_current_a": 16}), "save")
        doc = self._ok(self.web.request("GET", "/api/config/export"), "export")
        doc["cards"]["cards"].update({"%08X" % (0xC0DE0000 + i): "card %d" % i
                                      for i in range(90)})  # 100 at most
        self._ok(self.web.request("POST", "/api/config/import", doc), "import")
        return cfg

    def log_download(self):
        self._ok(self.web.request("GET", "/api/log?n=500"), "log")
        self._ok(self.web.request("GET", "/api/log/all"), "log download")

    def update_upload(self):
        st, data = self.web.request("POST", "/api/update", raw=_update_bundle(self.code_root))
        if st != 400 or "SHA-256 mismatch" not in data.get("error", ""):
            self.fails.append("update: %s %s" % (st, data))
        # the refused slot is removed in steps after the answer: inside this scenario
        self.w.wait_for(lambda w: not any(os.path.exists(os.path.join(w.state_dir, slot))
                                          for slot in ("s0", "s1")), 60)

    def ocpp_burst(self):
        from ocpp.v16 import call
        self.cs.wait_for(lambda cs: cs.calls(CP_ID, "StatusNotification"), 60)
        cards = [{"idTag": "%08X" % (0xA0000000 + i), "idTagInfo": {"status": "Accepted"}}
                 for i in range(64)]  # SendLocalListMaxLength
        r = self.cs.call(CP_ID, call.SendLocalList(list_version=7, update_type="Full",
                                                   local_authorization_list=cards))
        if r.status != "Accepted":
            self.fails.append("SendLocalList: %s" % r.status)
        r = self.cs.call(CP_ID, call.GetConfiguration())
        if not r.configuration_key:
            self.fails.append("GetConfiguration: no keys")

    def rfid(self):
        w = self.w
        w.set(plugged=True)
        w.wait_for(lambda w: w.state()["firmware"]["phase"] == "waiting for authorization", 30)
        w.tap_card("04AABBCCDDEEFF001122", 600)
        w.wait_for(lambda w: w.status() == "Charging" and w.relay_closed(), 30)
        for reader in ("dead", "garbage"):
            w.set_rfid(reader=reader)
            w.wait_for(lambda w: w.rfid_state()["reader"] == "failed", 30)
        w.set_rfid(reader="ok")
        w.wait_for(lambda w: w.rfid_state()["reader"] == "ok", 30)

    def meter_and_datalog(self):  # charging: meter polls, derating entries, session end
        w = self.w
        w.set(temp_c=68.0)
        time.sleep(self.pause_s)
        w.set(temp_c=25.0)
        time.sleep(self.pause_s)
        w.set(plugged=False)
        w.wait_for(lambda w: w.fault() == 1, 30)
        time.sleep(max(self.pause_s, 1.2))  # the session's record (written within 1 s)

    ORDER = ("idle", "login", "status", "config", "log_download", "update_upload",
             "ocpp_burst", "rfid", "meter_and_datalog")

    def run(self):
        """{scenario: (longest hold in us, its task)}; the failures are in self.fails."""
        out = {}
        for name in self.ORDER:
            since = len(self.w.profile)
            t0 = time.monotonic()
            getattr(self, name)()
            self.took[name] = round(time.monotonic() - t0, 1)
            time.sleep(self.pause_s / 4)  # the last answer's tail
            got = holds(self.w, since)
            out[name] = max(got) if got else (0, "")
        return out


def latency_figures(sc, per, scale, suffix=""):
    """The bench's figures from the scenarios run (`per`: Scenarios.run's result), each
    name ending in `suffix`."""
    out = {}
    worst = max(per.values())
    stall = round(worst[0] / 1000, 2)
    out["loop_stall_ms_max_all" + suffix] = stall
    out["loop_stall_all_by" + suffix] = "%s in %s" % (worst[1], [k for k, v in per.items()
                                                                if v == worst][0])
    for name, (us, task) in per.items():
        out["loop_hold_ms_" + name + suffix] = round(us / 1000, 2)
    if sc.fails:
        out["latency_scenario_failures" + suffix] = sc.fails
    out["loop_stall_ms_max_all_board_est_ms" + suffix] = board_est_ms(stall, scale)
    return out


# The frozen board's heap: a Pico W's at the bare REPL is 189.8 KB (docs/hardware.md)
FROZEN_HEAP = "192k"


def _bench_world(ctx, cs, meter_port, frozen=None):
    """The scenario board: on the 64-bit VM from the compiled .mpy files, or on the VM
    `frozen` with the firmware in its image and only boot.py and main.py on the flash."""
    from tools.bench import flash_root
    from tools.build import OUT, VM_OUT
    from tools.vboard.world import World
    ctx.n += 1
    state = os.path.join(ctx.tmp, "flash%d" % ctx.n)
    os.makedirs(state)
    config, files = board_setup(cs.url(), meter_port)
    cfg = {"charging.selftest_s": 1, "charging.retry_delay_s": 1}
    cfg.update(config)
    files["config.json"] = json.dumps(cfg)
    for name, text in files.items():
        with open(os.path.join(state, name), "w") as f:
            f.write(text)
    if frozen:
        w = World(state, heap=FROZEN_HEAP, code_root=flash_root(ctx.tmp), vm_dir=VM_OUT,
                  extra_env=PROFILE_ENV, web_port=0, vm=frozen)
    else:
        w = World(state, heap="512k", code_root=OUT, vm_dir=VM_OUT, extra_env=PROFILE_ENV,
                  web_port=0)
    w.inputs.update(meter_mode="ok")
    return w.start()


def _scenarios(ctx, frozen=None):
    """Scenarios.run on a fresh board and central system: (Scenarios, its result)."""
    from tools.build import OUT
    from tools.vboard.csms import CentralSystem
    cs = CentralSystem().start()
    try:
        w = _bench_world(ctx, cs, free_port(), frozen)
        try:
            sc = Scenarios(w, cs, OUT, 50)  # the update bundle: the compiled firmware
            return sc, sc.run()
        finally:
            w.stop()
    finally:
        cs.stop()


def _scale(vm, before):
    """board_scale_rp2040 against the VM `vm` (None: the 64-bit one), its kernels timed
    before (`before`) and after the scenarios (a busy host slows both)."""
    after = vm_speed(vm)
    return ratio(RP2040_US, {k: (before[k] + after[k]) / 2 for k in RP2040_US})


def latency(ctx):
    """Event-loop holds (issue 21) over every scenario of Scenarios.ORDER on one board
    with everything on, first on the 32-bit VM with the firmware frozen in (as boards
    run it; the primary figures), then on the 64-bit VM from .mpy files (the same names
    ending in `_mpy64`): loop_stall_ms_max_all, the longest step of any task (the CPU
    time it computed; loop_stall_all_by: the task and the scenario), loop_hold_ms_<
    scenario> (http_status_ms_p99, the status round trip with 4 clients at once, is
    tools/bench/web_status.py's figure); board_scale_rp2040, how many times longer the
    RP2040 takes for the same code (the emulated chip against the VM the figures come
    from), each latency figure times it as *_board_est_ms (the `tick` figure's mean:
    the 64-bit one's); the control tick measured on the emulated RP2040, and its share
    of one core there and on an ESP32 (docs/hardware.md: the scale and its limits).
    Without the frozen VM its figures are skipped, with the reason, and from an image of
    other sources they are not measured (latency32_stale); if they fail, the 64-bit
    ones still come."""
    from tools.bench import frozen_vm
    frozen, out = frozen_vm("latency32")
    if frozen:
        try:
            before = vm_speed(frozen)
            sc, per = _scenarios(ctx, frozen)
            scale = _scale(frozen, before)
            out.update({"board_scale_rp2040": round(scale, 1),
                        "board_scale_esp32": round(scale * ESP32_PER_RP2040, 1)})
            out.update(latency_figures(sc, per, scale))
        except Exception as e:  # noqa: BLE001 - the 64-bit figures still come
            out["latency32_failed"] = repr(e)[-500:]
    before = vm_speed()
    sc, per = _scenarios(ctx)
    scale = _scale(None, before)
    out["board_scale_rp2040_mpy64"] = round(scale, 1)
    out.update(latency_figures(sc, per, scale, "_mpy64"))
    tick = ctx.vm("tick")  # the `tick` figure's script
    # the mean only: the VM's longest tick is the host pausing the VM (tick_ms_max_rp2040
    # is the board's, measured on the emulated chip)
    out["tick_mean_board_est_ms"] = board_est_ms(tick["us_mean"] / 1000, scale)
    out.update(rp2040_tick(ctx))
    return out


def rp2040_tick(ctx):
    """The control tick on the emulated RP2040 (tools/rp2040/session.mjs, the Pico W
    image named by WALLBOX_PICO_UF2): its mean while charging and its longest, and its
    share of one core (5 ms period) there and, by the published ratio, on an ESP32."""
    image = os.getenv("WALLBOX_PICO_UF2")
    harness = os.path.join(os.path.dirname(SPEED), "session.mjs")
    if not image or not os.path.exists(image):
        return {"tick_rp2040_skipped": "WALLBOX_PICO_UF2 names no Pico W image "
                                       "(docs/hardware.md builds it)"}
    here = os.path.dirname(harness)
    if not all(os.path.exists(os.path.join(here, n)) for n in ("node_modules", "bootrom.mjs")):
        return {"tick_rp2040_skipped": "tools/rp2040 lacks rp2040js (npm install) or "
                                       "bootrom.mjs (docs/hardware.md)"}
    from tools.vboard.world import find_micropython
    fs = os.path.join(ctx.tmp, "picow-fs.img")
    subprocess.run([find_micropython(), os.path.join(os.path.dirname(SPEED), "flashfs.py"),
                    ROOT, fs], check=True, capture_output=True, timeout=120)
    run = subprocess.run(["node", harness, image, fs], capture_output=True, text=True,
                         timeout=1200)
    means, longest = [], 0
    for line in run.stdout.splitlines():  # HARNESS ... tick_us_max M tick_us_mean N ...
        f = line.split()
        if "HARNESS" in f and f[-1] == "2":  # status 2: charging
            longest = max(longest, int(f[f.index("tick_us_max") + 1]))
            means.append(int(f[f.index("tick_us_mean") + 1]))
    if run.returncode or not means:  # the other latency figures still count
        return {"tick_rp2040_failed": (run.stdout + run.stderr)[-500:]}
    mean = sum(means) / len(means)
    return {"tick_ms_mean_rp2040": round(mean / 1000, 2),
            "tick_ms_max_rp2040": round(longest / 1000, 2),
            "tick_core_share_pct_rp2040": round(mean / 50, 1),
            "tick_core_share_pct_esp32": round(mean * ESP32_PER_RP2040 / 50, 1)}
