"""No flash erase and no file system write while the relay is closed (a sector erase
holds the boards' CPUs longer than the relay keep-alive's drop-out: docs/decisions.md),
yet nothing saved during a session is lost: held in RAM and programmed into the
journal partition, written to the files when the relay opens, applied at boot after a
power cut. The virtual board counts every file system write and every erase and page
program of its journal partition with the relay's state at that moment as the VM saw it
(tools/vboard/vm/vflash.py)."""
import json
import os
import time

from ocpp.v16 import call
from vmrun import free_port
from webclient import Client, charging, start_web_board

from tools.vboard.csms import CentralSystem

CP = "CPFLASH"


def saved_settings(w):
    try:  # (missing for a moment between save_json's renames)
        with open(os.path.join(w.state_dir, "config.json")) as f:
            doc = json.loads(f.read())
    except (OSError, ValueError):
        return {}
    doc = doc.get("data", doc)
    return doc.get("s", doc)


def nothing_while_closed(w):
    got = w.flash_counts(True)
    assert got["file"] == 0 and got["erase"] == 0, (got, w.flash_views_differ)
    assert got["overwrite"] == 0 and w.flash_counts(False)["overwrite"] == 0


def busy_session(w, c, cs, utc_offset):
    """A charging session with the web, the backend and the meter busy; a setting is
    saved from the web while it charges."""
    w.set(plugged=True)
    w.wait_for(charging, 30)
    cs.wait_for(lambda cs: cs.calls(CP, "StartTransaction"), 30)
    st, r, _ = c.post("/api/config", {"time.utc_offset_min": utc_offset})
    assert st == 200, r
    assert c.get("/api/config")[1]["values"]["time.utc_offset_min"] == utc_offset
    n = len(cs.calls(CP, "MeterValues"))
    for k in range(4):
        cs.call(CP, call.ChangeConfiguration(key="ConnectionTimeOut", value=str(100 + k)),
                timeout=10)
        assert c.get("/api/v1/status")[0] == 200
        time.sleep(0.5)
    cs.wait_for(lambda cs: len(cs.calls(CP, "MeterValues")) >= n + 2, 30)
    assert charging(w)
    nothing_while_closed(w)
    assert w.flash_counts(True)["program"] > 0  # the journal took what must survive


def test_a_busy_session_writes_no_file_and_erases_nothing_while_the_relay_is_closed(
        start_board):
    cs = CentralSystem().start()
    port = cs.port
    cfg = {"backend.enabled": True, "backend.url": cs.url(), "backend.charge_point_id": CP,
           "backend.retry_max_s": 2, "backend.schedule_wait_s": 0,
           "meter.enabled": True, "meter.transport": "tcp", "meter.model": "sdm630",
           "meter.host": "127.0.0.1", "meter.port": free_port(), "house.fuse_a": 63}
    files = {"ocpp.json": json.dumps({"cfg": {"MeterValueSampleInterval": 1}})}
    try:
        w = start_web_board(start_board, cfg, heap="512k", files=files)
        c = Client(w).set_up()
        cs.wait_for(lambda cs: cs.calls(CP, "StatusNotification"), 30)
        # a session that ends with an unplug: what was held lands on the files then,
        # and the journal is erased, with the relay open
        busy_session(w, c, cs, 120)
        erased = w.flash_counts(False)["erase"]
        w.set(plugged=False)
        w.wait_for(lambda w: not w.relay_closed() and w.status() != "Charging", 20)
        w.wait_for(lambda w: saved_settings(w).get("time.utc_offset_min") == 120, 20)
        w.wait_for(lambda w: w.flash_counts(False)["erase"] > erased, 20)
        try:
            cs.wait_for(lambda cs: cs.calls(CP, "StopTransaction"), 30)
        except TimeoutError:
            print("\n".join(w.console[-60:]), cs.actions(CP)[-30:])
            raise
        keys = cs.call(CP, call.GetConfiguration(key=["ConnectionTimeOut"]), timeout=10)
        assert keys.configuration_key[0]["value"] == "103"
        nothing_while_closed(w)
        w.wait_for(lambda w: "charging session start" in w.flash_log(), 20)
        # a second session cut by a power loss: the journal brings back what it held
        busy_session(w, c, cs, 180)
        start = cs.calls(CP, "StartTransaction")[-1]
        time.sleep(2)
    finally:
        cs.stop()
    boots = w.boots
    w.power_cycle()
    w.wait_for(lambda w: w.boots > boots and w.tele(1) not in (None, 0), 30)
    w.wait_for(lambda w: saved_settings(w).get("time.utc_offset_min") == 180, 20)
    cs2 = CentralSystem(port=port).start()
    try:
        stop = cs2.wait_for(lambda cs: [p for p in cs.calls(CP, "StopTransaction")
                                        if p["reason"] == "PowerLoss"], 60)[0]
        assert stop["meterStop"] > start["meterStart"]
        keys = cs2.call(CP, call.GetConfiguration(key=["ConnectionTimeOut"]), timeout=10)
        assert keys.configuration_key[0]["value"] == "103"
        w.set(plugged=False)  # the log's entries wait for the relay to open too
        w.wait_for(lambda w: "writes of the last session applied" in w.flash_log(), 40)
    finally:
        cs2.stop()
    nothing_while_closed(w)
