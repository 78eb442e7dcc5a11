"""Issue 16's figures, of tools/bench (registered in its __main__.py): the relay's
keep-alive over an hour of busy charging, time-scaled.

`keepalive_hour`: one hour of charging with the web interface, the backend and the meter
busy, compressed SCALE times (BENCH_KEEPALIVE_HOUR_SCALE, 10: six minutes). What the
firmware does once a minute or so happens SCALE times as often: the backend's energy
register saves (`_SAVE_MS`) and the data log's batches (`_FLUSH_MS`) in a copy of the
compiled firmware with those constants divided, MeterValues every 60/SCALE s, a setting
saved from the web every 300/SCALE s, a configuration key changed by the central system
every 60/SCALE s; the web clients poll without pause and the central system asks for a
key every second (denser than an hour's worth already). The control tick, the pilot and
the keep-alive run in real time, so every tick of the hour's load is a real one.
"""
import json
import os
import shutil
import subprocess
import sys
import threading
import time

from tools.bench import webclient
from tools.build import OUT, ROOT, mpy_cross, source_name
from tools.vboard.timescale import scale_source

# file: the durations that come once a minute or so, divided by the scale
_SCALED = {
    "firmware/services/ocpp/backend.py": ("_SAVE_MS",),
    "firmware/services/platform/datalog.py": ("_FLUSH_MS",),
}


def _bench():
    """tools/bench's helpers (its __main__.py, run as the program or imported)."""
    main = sys.modules.get("__main__")
    if main is not None and hasattr(main, "_web_login"):
        return main
    return __import__("tools.bench.__main__", fromlist=["*"])


def _scaled_build(dst, scale):
    """The compiled firmware (tools/bench built it into OUT) with _SCALED divided."""
    if os.path.exists(dst):
        shutil.rmtree(dst)
    shutil.copytree(OUT, dst)
    for rel, names in _SCALED.items():
        with open(os.path.join(ROOT, rel)) as f:
            text = scale_source(f.read(), names, scale)
        src = os.path.join(dst, "scaled.py")
        with open(src, "w") as f:
            f.write(text)
        subprocess.run([mpy_cross(), "-o", os.path.join(dst, rel[:-3] + ".mpy"),
                        "-s", source_name(rel), src], check=True)
        os.remove(src)
    return dst


def keepalive_hour(ctx):
    """keepalive_nuisance_drops_hour: relay openings (the keep-alive monostable, the
    hard guard, a fault: any) during one hour of busy charging, time-scaled (module
    doc); with the flash operations the virtual board counted while the relay was
    closed (none may be a file system write or an erase)."""
    from ocpp.v16 import call

    from tools.vboard.csms import CentralSystem
    b = _bench()
    scale = int(os.getenv("BENCH_KEEPALIVE_HOUR_SCALE") or 10)
    secs = 3600 // scale
    code = _scaled_build(os.path.join(ctx.tmp, "scaled%d" % scale), scale)
    cs = CentralSystem().start()
    cp = "BENCHKH%d" % (ctx.n + 1)
    w = b.busy_world(ctx, cs, cp, code, {"ocpp.json": {
        "cfg": {"MeterValueSampleInterval": max(1, 60 // scale)}}})
    stop = threading.Event()
    fails = []

    def web_busy(cookie):
        while not stop.is_set():
            fails.extend(webclient.browsers(w.web_port, cookie, n=2, rounds=1))

    def web_saves():
        _, data, cookie = b._http(w, "POST", "/api/login",
                                  {"user": "admin", "password": b.WEB_PASSWORD})
        csrf = json.loads(data)["csrf"]
        k = 0
        while not stop.wait(300 / scale):
            k += 1
            st, data, _ = b._http(w, "POST", "/api/config", {"time.utc_offset_min": k % 120},
                                  cookie, csrf)
            if st != 200:
                fails.append(("save", st, data[:80]))

    def backend_busy():
        k = 0
        while not stop.is_set():
            k += 1
            try:
                cs.call(cp, call.GetConfiguration(key=["HeartbeatInterval"]), timeout=10)
                if k % max(1, 60 // scale) == 0:
                    cs.call(cp, call.ChangeConfiguration(key="ConnectionTimeOut",
                                                         value=str(60 + k % 60)), timeout=10)
            except Exception as e:  # noqa: BLE001 - counted, the figure goes on
                fails.append(repr(e))
            stop.wait(1)
    try:
        cookie = b._web_login(w)
        cs.wait_for(lambda cs: cs.calls(cp, "StatusNotification"), 60)
        w.wait_for(b.charging, 30)
        time.sleep(2)
        opens, drops = w.relay_opens, w.keepalive_drops
        closed0 = w.flash_counts(True)
        mvs = len(cs.calls(cp, "MeterValues"))
        threads = [threading.Thread(target=web_busy, args=(cookie,)),
                   threading.Thread(target=web_saves),
                   threading.Thread(target=backend_busy)]
        for t in threads:
            t.start()
        time.sleep(secs)
        stop.set()
        for t in threads:
            t.join()
        closed = w.flash_counts(True)
        with open(os.path.join(w.state_dir, "journal.img"), "rb") as f:  # charging still:
            used = len(f.read().rstrip(b"\xff"))                   # the session's records
        return {"keepalive_nuisance_drops_hour": w.relay_opens - opens,
                "keepalive_hour_monostable_drops": w.keepalive_drops - drops,
                "keepalive_hour_scale": scale, "keepalive_hour_run_s": secs,
                "keepalive_hour_meter_values": len(cs.calls(cp, "MeterValues")) - mvs,
                "keepalive_hour_flash_writes_closed": closed["file"] - closed0["file"],
                "keepalive_hour_flash_erases_closed": closed["erase"] - closed0["erase"],
                "keepalive_hour_journal_programs": closed["program"] - closed0["program"],
                "keepalive_hour_journal_kb": round(used / 1024, 1),
                "keepalive_hour_busy_failures": len(fails),
                "keepalive_hour_still_charging": b.charging(w)}
    finally:
        stop.set()
        w.stop()
        cs.stop()
