"""The status API under load, a figure of tools/bench (registered in its __main__.py):
the bench's one measurement of it.

http_status_ms_p95 and http_status_ms_p99 (issue 21's budget: <= 20 ms): the round trip
of `GET /api/v1/status` (what the status page polls every 2 s) while 4 clients poll it at
once, each as fast as it gets answers, on the virtual board with a car charging: on the
32-bit VM with the firmware frozen in (build/unix32/micropython, as boards run it), and
on the 64-bit VM from .mpy files (`*_mpy64`). Wall clock over loopback at the VM's own speed: a
board is slower (http_status_ms_p99_board_est_ms, by the board scale of
tools/bench/latency.py; an upper bound, docs/hardware.md). Each client sends a bounded
number of requests; only 127.0.0.1 is addressed.
"""
import json
import math
import os
import threading
import time

from tools.bench.webclient import request
from tools.build import OUT, VM_OUT
from tools.vboard.world import World

CLIENTS = 4
REQUESTS = 100  # per client
SERIAL = "WB0000000001"
PASSWORD = "bench-password-1"


def _board(ctx, frozen=None):
    """A board with the web interface on: on the 64-bit VM from the compiled .mpy files,
    or on the VM `frozen` with the firmware in its image, only boot.py and main.py on
    the flash and a Pico W's heap (as tools/bench/latency.py's scenarios)."""
    from tools.bench import flash_root
    from tools.bench.latency import FROZEN_HEAP
    ctx.n += 1
    state = os.path.join(ctx.tmp, "flash%d" % ctx.n)
    os.makedirs(state)
    files = {"config.json": {"charging.selftest_s": 1, "charging.retry_delay_s": 1},
             "prov.json": {"serial": SERIAL, "board": "virtual"}}
    for name, obj in files.items():
        with open(os.path.join(state, name), "w") as f:
            json.dump(obj, f)
    if frozen:
        return World(state, heap=FROZEN_HEAP, code_root=flash_root(ctx.tmp), vm_dir=VM_OUT,
                     web_port=0, vm=frozen).start()
    return World(state, heap="512k", code_root=OUT, vm_dir=VM_OUT, web_port=0).start()


def _log_in(w):
    """The first login with the serial and the password change: a session cookie."""
    deadline = time.monotonic() + 30
    while True:
        try:
            st, data, _, cookie = request(w.web_port, "POST", "/api/login",
                                          {"user": "admin", "password": SERIAL})
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
    if st != 200:
        raise RuntimeError("login: HTTP %d" % st)
    csrf = json.loads(data)["csrf"]
    st = request(w.web_port, "POST", "/api/password", {"new": PASSWORD}, cookie, csrf)[0]
    if st != 200:
        raise RuntimeError("password change: HTTP %d" % st)
    return cookie


def _poll_together(port, cookie, clients=CLIENTS, requests=REQUESTS):
    """`clients` threads polling the status at once: (round trips in ms, failures)."""
    times, fails = [], []
    start = threading.Barrier(clients)

    def client():
        start.wait()
        for _ in range(requests):
            t0 = time.monotonic()
            try:
                st = request(port, "GET", "/api/v1/status", cookie=cookie)[0]
            except OSError as e:
                fails.append(repr(e))
                continue
            if st == 200:
                times.append((time.monotonic() - t0) * 1000)
            else:
                fails.append(st)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return times, fails


def percentile(values, p):
    """The nearest-rank percentile `p` (0..100) of `values`."""
    s = sorted(values)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def _vm_thread(w):
    """(ns on a CPU, ns waiting for one) of the VM's main thread, from the kernel."""
    pid = w._proc.pid
    with open("/proc/%d/task/%d/schedstat" % (pid, pid)) as f:
        cpu, queued = f.read().split()[:2]
    return int(cpu), int(queued)


def _status_figures(ctx, frozen=None, suffix=""):
    """The figures of http_status on one board (`frozen`: _board's), each name ending in
    `suffix`."""
    from tools.bench.latency import RP2040_US, board_est_ms, ratio, vm_speed
    w = _board(ctx, frozen)
    try:
        cookie = _log_in(w)
        w.set(plugged=True)
        w.wait_for(lambda w: w.status() == "Charging" and w.relay_closed(), 30)
        before = _vm_thread(w)
        times, fails = _poll_together(w.web_port, cookie)
        after = _vm_thread(w)
    finally:
        w.stop()
    if not times:
        raise RuntimeError("no status answered: %s" % fails[:3])
    p99 = round(percentile(times, 99), 2)
    n = len(times) + len(fails)
    out = {"http_status_ms_p95": round(percentile(times, 95), 2),
           "http_status_ms_p99": p99,
           "http_status_ms_p50": round(percentile(times, 50), 2),
           "http_status_ms_max": round(max(times), 2),
           "http_status_requests": n,
           "http_status_failures": len(fails),
           "http_status_vm_cpu_ms_per_request": round((after[0] - before[0]) / 1e6 / n, 2),
           "http_status_vm_queued_ms_per_request": round((after[1] - before[1]) / 1e6 / n, 2),
           "http_status_load_avg": round(os.getloadavg()[0], 1),
           "http_status_ms_p99_board_est_ms": board_est_ms(p99, ratio(RP2040_US,
                                                                      vm_speed(frozen)))}
    return {k + suffix: v for k, v in out.items()}


def http_status(ctx):
    """http_status_ms_p95 and _p99 (and the median, the worst, the failures, the p99's
    board estimate) of GET /api/v1/status with 4 clients polling at once, a car charging,
    first on the 32-bit VM with the firmware frozen in (as boards run it; the primary
    figures), then on the 64-bit VM from .mpy files (the same names ending in `_mpy64`).
    The round trips are wall time on a shared host, so beside them: what the VM's thread
    computed per request (http_status_vm_cpu_ms_per_request: the firmware's cost, the
    host's load aside), how long per request it waited for a CPU while it could have run
    (http_status_vm_queued_ms_per_request: the host's share), and the host's load.
    Without the frozen VM: http_status32_skipped, and from an image of other sources
    http_status32_stale, with the reason; a failure of either run keeps the other's."""
    from tools.bench import frozen_vm
    frozen, out = frozen_vm("http_status32")
    if frozen:
        try:
            out.update(_status_figures(ctx, frozen))
        except Exception as e:  # noqa: BLE001 - the 64-bit figures still come
            out["http_status32_failed"] = repr(e)[-500:]
    try:
        out.update(_status_figures(ctx, None, "_mpy64"))
    except Exception as e:  # noqa: BLE001 - the frozen figures are kept
        out["http_status_failed_mpy64"] = repr(e)[-500:]
    return out
