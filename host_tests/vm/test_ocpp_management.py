"""Firmware management, diagnostics and the local authorization list over OCPP 1.6J:
the firmware in the VM, the `ocpp` central system, real HTTP servers and the platform's
update service with a bundle built from the real build."""
import json
import time

import pytest
from fileserver import FileServer
from ocpp.v16 import call

from tools import bundle
from tools.vboard.csms import CentralSystem

CP = "CP1"
MASTER = "04112233445566"


def backend(cs, **extra):
    cfg = {"backend.enabled": True, "backend.url": cs.url(), "backend.charge_point_id": CP,
           "backend.retry_max_s": 2, "backend.schedule_wait_s": 0}
    cfg.update(extra)
    return cfg


def soon(s=0):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + s))


@pytest.fixture
def web():
    s = FileServer()
    yield s
    s.stop()


def fw_statuses(cs):
    return [p["status"] for p in cs.calls(CP, "FirmwareStatusNotification")]


def test_update_firmware_through_the_update_service(cs, web, start, built):
    web.files["/fw/wallbox-9.9.9.wbx"] = bundle.make(bundle.collect(built), "9.9.9")
    w = start(backend(cs))
    cs.wait_for(lambda cs: cs.calls(CP, "StatusNotification"), 30)
    assert "firmwareVersion" not in cs.calls(CP, "BootNotification")[0]  # no manifest yet
    r = cs.call(CP, call.UpdateFirmware(location=web.url("/fw/wallbox-9.9.9.wbx"),
                                        retrieve_date=soon(1)))
    assert r is not None
    cs.wait_for(lambda cs: "Installing" in fw_statuses(cs), 60)
    w.wait_for(lambda w: w.boots >= 2, 60)  # restarted into the new version
    cs.wait_for(lambda cs: fw_statuses(cs)[-1:] == ["Installed"], 60)
    assert fw_statuses(cs) == ["Downloading", "Installing", "Installed"]
    boot = cs.wait_for(lambda cs: [b for b in cs.calls(CP, "BootNotification")
                                   if b.get("firmwareVersion") == "9.9.9"], 30)
    assert boot
    r = cs.call(CP, call.TriggerMessage(requested_message="FirmwareStatusNotification"))
    assert r.status == "Accepted"
    assert cs.errors(CP) == []


def test_update_from_a_missing_file_fails_and_says_so(cs, web, start):
    start(backend(cs))
    cs.wait_for(lambda cs: cs.calls(CP, "StatusNotification"), 30)
    cs.call(CP, call.UpdateFirmware(location=web.url("/fw/none.wbx"), retrieve_date=soon(),
                                    retries=1, retry_interval=1))
    cs.wait_for(lambda cs: fw_statuses(cs)[-1:] == ["DownloadFailed"], 60)
    assert fw_statuses(cs) == ["Downloading", "Downloading", "DownloadFailed"]
    assert cs.errors(CP) == []


def test_get_diagnostics_uploads_the_data_log(cs, web, start):
    w = start(backend(cs), plugged=True)
    w.wait_for(lambda w: w.status() == "Charging", 20)
    cs.wait_for(lambda cs: cs.calls(CP, "StartTransaction"))
    r = cs.call(CP, call.GetDiagnostics(location=web.url("/diag/")))
    assert r.file_name.startswith("log-") and r.file_name.endswith(".txt")
    cs.wait_for(lambda cs: [p["status"] for p in cs.calls(CP, "DiagnosticsStatusNotification")]
                == ["Uploading", "Uploaded"], 30)
    text = web.puts["/diag/" + r.file_name]
    assert "backend: connected to" in text and "transaction 1 started" in text
    assert "\tsession\t" in text  # the data log's own line format
    r = cs.call(CP, call.GetDiagnostics(location="ftp://127.0.0.1/diag/"))
    assert r.file_name is None  # not supported: no file will come
    assert cs.errors(CP) == []


def test_local_list_and_offline_authorization(start):
    cs = CentralSystem().start()
    port = cs.port
    cards = {"cards.json": json.dumps({"version": 1, "master": MASTER,
                                       "cards": {MASTER: "white"}})}
    try:
        w = start(backend(cs, **{"auth.enabled": True}), files=cards)
        cs.wait_for(lambda cs: cs.calls(CP, "StatusNotification"), 30)
        assert cs.call(CP, call.GetLocalListVersion()).list_version == 0
        lst = [{"idTag": "AAAA1111", "idTagInfo": {"status": "Accepted"}},
               {"idTag": "BBBB2222", "idTagInfo": {"status": "Blocked"}},
               {"idTag": "CCCC3333", "idTagInfo": {"status": "Accepted",
                                                   "expiryDate": "2001-01-01T00:00:00Z"}}]
        r = cs.call(CP, call.SendLocalList(list_version=3, update_type="Full",
                                           local_authorization_list=lst))
        assert r.status == "Accepted"
        assert cs.call(CP, call.GetLocalListVersion()).list_version == 3
        r = cs.call(CP, call.SendLocalList(list_version=2, update_type="Differential",
                                           local_authorization_list=[]))
        assert r.status == "VersionMismatch"
        r = cs.call(CP, call.SendLocalList(list_version=4, update_type="Differential",
                                           local_authorization_list=[{"idTag": "DDDD4444"}]))
        assert r.status == "Accepted"  # removing an entry that is not there
        assert cs.call(CP, call.ChangeConfiguration(key="LocalAuthorizeOffline",
                                                    value="true")).status == "Accepted"
    finally:
        cs.stop()  # offline from here on
    w.wait_for(lambda w: w.led_names()[4] == "orange", 20)
    w.wait_for(lambda w: w.rfid_state()["reader"] == "ok", 20)
    w.set(plugged=True)
    w.wait_for(lambda w: w.state()["firmware"]["phase"] == "waiting for authorization", 15)
    for refused in ("BBBB2222", "CCCC3333", "EEEE5555"):  # blocked, expired, unknown
        w.tap_card(refused)
        time.sleep(1.5)
        assert not w.relay_closed(), refused
    w.tap_card("AAAA1111")
    w.wait_for(lambda w: w.status() == "Charging" and w.relay_closed(), 15)
    time.sleep(1)
    w.set(plugged=False)
    w.wait_for(lambda w: not w.relay_closed())
    time.sleep(1.5)
    cs2 = CentralSystem(port=port).start()  # back: the offline session arrives
    try:
        stop = cs2.wait_for(lambda cs: cs.calls(CP, "StopTransaction"), 40)[0]
        start = cs2.calls(CP, "StartTransaction")[0]
        assert start["idTag"] == "AAAA1111" and stop["idTag"] == "AAAA1111"
        assert stop["meterStop"] > start["meterStart"]
        assert not cs2.calls(CP, "Authorize")  # decided offline, nothing asked later
        assert cs2.errors(CP) == []
    finally:
        cs2.stop()


def test_a_rollback_is_reported_on_the_next_connection(start):
    """Version 9.9.9 was reported Installed, then failed its trial: boot.py's boot count
    rolls it back at this start. The central system hears InstallationFailed."""
    trial = {"active": "s1", "prev": "", "version": "9.9.9", "boots": 3, "max": 3}
    cs = CentralSystem().start()
    port = cs.port
    cs.stop()  # offline at first: the report waits for the connection
    w = start(backend(cs), files={"update.json": json.dumps(trial),
                                  "ocpp.json": json.dumps({"fw": None, "synced": True})})
    w.wait_for(lambda w: "update: version 9.9.9 rolled back (not healthy within 3 boots)"
               in w.flash_log(), 30)
    w.wait_for(lambda w: "backend: software update failed" in w.flash_log(), 30)
    time.sleep(2)
    cs = CentralSystem(port=port).start()
    try:
        cs.wait_for(lambda cs: fw_statuses(cs) == ["InstallationFailed"], 60)
        w.wait_for(lambda w: any("outcome reported: InstallationFailed" in line
                                 for line in list(w.console)), 10)
        boots = w.boots
        w.power_cycle()  # reported once: not again after a restart
        w.wait_for(lambda w: w.boots > boots, 30)
        cs.wait_for(lambda cs: cs.connects[CP] >= 2 and cs.connected(CP) and
                    cs.frames(CP, "in", every=False)[2:], 60)
        time.sleep(2)
        assert fw_statuses(cs) == ["InstallationFailed"]
        assert cs.errors(CP) == []
    finally:
        cs.stop()
