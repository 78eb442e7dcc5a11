"""One software update at a time, on the virtual board: the web's upload and the
backend's UpdateFirmware write the same spare slot, so the second is refused (the web
409, the backend's attempt InstallationFailed) and the first completes; during a trial
boot the spare slot holds the version to roll back to, so an update waits for the
confirmation (docs/update.md)."""
import json
import socket
import time

import pytest
from fileserver import FileServer
from ocpp.v16 import call
from webclient import Client, start_web_board

from tools import bundle

CP = "CP1"


@pytest.fixture
def server():
    s = FileServer()
    yield s
    s.stop()


def fw_statuses(cs):
    return [p["status"] for p in cs.calls(CP, "FirmwareStatusNotification")]


def logged(w, text):
    return any(text in line for line in list(w.console))


def soon():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time()))


def test_web_upload_and_backend_update_one_at_a_time(start_board, cs, server, built):
    data = bundle.make(bundle.collect(built), "9.9.9")
    w = start_web_board(start_board, {
        "backend.enabled": True, "backend.url": cs.url(), "backend.charge_point_id": CP,
        "backend.retry_max_s": 2}, heap="640k")
    web = Client(w).set_up()
    cs.wait_for(lambda cs: cs.calls(CP, "StatusNotification"), 30)
    # the backend's download hangs half-way: its update holds the spare slot
    server.files["/fw/a.wbx"] = data
    server.cuts["/fw/a.wbx"] = (len(data) // 2, "stall")
    cs.call(CP, call.UpdateFirmware(location=server.url("/fw/a.wbx"), retrieve_date=soon(),
                                    retries=0, retry_interval=1))
    w.wait_for(lambda w: logged(w, "update: receiving %d bytes" % len(data)), 30)
    st, r, _ = web.request("POST", "/api/update", body=data,
                           headers={"Content-Type": "application/octet-stream"})
    assert st == 409 and r["error"] == \
        "another update is running: try again once it has finished", r
    server.stop()  # the download ends early: that update fails, nothing is installed
    cs.wait_for(lambda cs: fw_statuses(cs) == ["Downloading", "DownloadFailed"], 30)
    assert logged(w, "update refused: bundle truncated")

    # the web's upload runs (half of it sent), the backend's update comes meanwhile
    up = socket.create_connection(("127.0.0.1", w.web_port), timeout=30)
    try:
        host = "127.0.0.1:%d" % w.web_port
        up.sendall(("POST /api/update HTTP/1.1\r\nHost: %s\r\nCookie: sid=%s\r\n"
                    "X-CSRF-Token: %s\r\nContent-Length: %d\r\n\r\n" % (
                        host, web.cookie, web.csrf, len(data))).encode() +
                   data[:len(data) // 2])
        w.wait_for(lambda w: sum("update: receiving" in line for line in w.console) == 2, 30)
        cs.call(CP, call.UpdateFirmware(location=server.url("/fw/a.wbx"),
                                        retrieve_date=soon(), retries=0, retry_interval=1))
        cs.wait_for(lambda cs: fw_statuses(cs)[2:] == ["InstallationFailed"], 30)
        assert logged(w, "software update refused: another update is running")
        up.sendall(data[len(data) // 2:])  # the upload completes, intact
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
            d = up.recv(4096)
            if not d:
                break
            answer += d
    finally:
        up.close()
    assert answer.startswith(b"HTTP/1.0 200"), answer
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["version"] == "9.9.9"
    w.wait_for(lambda w: w.boots >= 2, 60)  # restarted into the new version
    cs.wait_for(lambda cs: [b for b in cs.calls(CP, "BootNotification")
                            if b.get("firmwareVersion") == "9.9.9"], 60)
    assert cs.errors(CP) == []


def test_no_update_while_a_version_is_on_trial(start_board):
    """On trial (not yet confirmed healthy), the spare slot holds the version to roll back
    to: an upload is refused with 409 and the reason; the trial's state stays."""
    trial = {"active": "s1", "prev": "s0", "version": "9.9.9", "boots": 1, "max": 3}
    w = start_web_board(start_board, {"update.healthy_s": 3600},
                        files={"update.json": json.dumps(trial)})
    w.wait_for(lambda w: logged(w, "update: version 9.9.9 on trial"), 20)
    web = Client(w).set_up()
    st, r, _ = web.request("POST", "/api/update", body=b"WBX1" + bytes(200),
                           headers={"Content-Type": "application/octet-stream"})
    assert st == 409, r
    assert r["error"] == "version 9.9.9 is on trial: an update can start once it is " \
        "confirmed healthy"
    assert logged(w, "update refused: version 9.9.9 is on trial")
    with open(w.state_dir + "/update.json") as f:
        assert json.load(f)["data"] == dict(trial, boots=2)  # boot.py counted this boot
