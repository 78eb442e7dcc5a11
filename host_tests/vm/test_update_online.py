"""The online update check in the VM against a real HTTP server (http.server): a signed
release record names the version, its notes and its bundle; Download & Install streams
the bundle through the Updater as an upload. A good update is armed; a bad signature,
a truncated download and a lost connection leave the running install as it was, with
the reason. On the virtual board the same through the web API, refused while charging."""
import json
import os
import random
import subprocess
import time

import pytest

from fileserver import FileServer
from vmrun import ROOT, micropython
from webclient import PROV, Client, charging, start_web_board, wait_web

import sys
sys.path.insert(0, ROOT)
from tools import bundle  # noqa: E402

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
NOTES = "Fixes the solar start delay.\nFaster web pages."

CHECK = r"""
import asyncio, json, sys
from firmware.services.platform.log import Log
from firmware.services.net import release
from firmware.services.platform import update
url, key, timeout_s = sys.argv[1], sys.argv[2], int(sys.argv[3])
from firmware.core.charger import ChargerConfig
class Charger:
    updating = False
    cfg = ChargerConfig()
class App:
    log = Log(echo=False)
    restarted = None
    def updater(self):
        return update.Updater(self.log, Charger(), "virtual",
                              bytes.fromhex(key) if key != "-" else None)
    def restart(self, reason):
        App.restarted = reason
app = App()
out = {}
async def run():
    try:
        r = await release.check(url, app.updater().key, "virtual")
    except update.UpdateError as e:
        out["check"] = str(e)
        return
    out["release"] = r
    job = release.Install(app, r)
    job.timeout_s = timeout_s
    seen = []
    async def watch():
        while job.state == "downloading":
            seen.append(job.status()["progress"])
            await asyncio.sleep_ms(5)
    asyncio.create_task(watch())
    await job.run(restart_ms=0)
    await update.cleared()  # a refused slot is removed in steps, after the refusal
    out["status"] = job.status()
    out["seen"] = seen
asyncio.run(run())
out["restarted"] = App.restarted
out["log"] = [e[3] for e in app.log.entries]
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def files(built):
    return bundle.collect(built)


@pytest.fixture
def server():
    s = FileServer()
    yield s
    s.stop()


def public(key):
    return bundle.public_bytes(bundle.private_key(key))


def publish(server, files, version="9.9.9", key=KEY, bundle_key=KEY):
    data = bundle.make(files, version, key=bundle_key)
    server.files["/fw/wallbox-%s.wbx" % version] = data
    server.files["/fw/latest.wbr"] = bundle.make_release(
        version, "wallbox-%s.wbx" % version, len(data), NOTES, key=key)
    return data


def run_check(tmp_path, server, key=KEY, timeout_s=15):
    """The check and the install in a fresh VM flash; returns (result, flash dir)."""
    flash = tmp_path / ("flash%d" % random.getrandbits(32))
    flash.mkdir()
    (flash / "manifest.json").write_text(json.dumps({"version": "1.0.0"}))
    (flash / "keep.txt").write_text("the running install")
    (flash / "check.py").write_text(CHECK)
    env = dict(os.environ, MICROPYPATH=ROOT + ":.frozen")
    out = subprocess.run([micropython(), "check.py", server.url("/fw/latest.wbr"),
                          public(key).hex() if key else "-", str(timeout_s)],
                         cwd=str(flash), env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1]), flash


def unchanged(flash):
    assert sorted(os.listdir(flash)) == ["check.py", "keep.txt", "manifest.json"]
    assert (flash / "keep.txt").read_text() == "the running install"


def test_good_update_is_found_downloaded_verified_and_armed(tmp_path, server, files):
    data = publish(server, files)
    r, flash = run_check(tmp_path, server)
    rel = r["release"]
    assert rel == {"version": "9.9.9", "notes": NOTES, "size": len(data), "running": "1.0.0",
                   "newer": True, "signed": True,
                   "bundle": server.url("/fw/wallbox-9.9.9.wbx")}
    assert r["status"] == {"state": "installed", "version": "9.9.9", "progress": len(data),
                           "total": len(data), "error": ""}
    assert any(0 < p < len(data) for p in r["seen"]), "no progress seen midway"
    assert r["restarted"] == "software update to 9.9.9"
    for rel_path, content in files.items():
        assert (flash / "s1" / rel_path).read_bytes() == content
    st = json.loads((flash / "update.json").read_text())["data"]
    assert st["active"] == "s1" and st["version"] == "9.9.9"


def test_release_record_with_a_bad_signature_is_refused(tmp_path, server, files):
    publish(server, files, key=OTHER_KEY)
    r, flash = run_check(tmp_path, server)
    assert r["check"] == "bad signature" and r["restarted"] is None
    unchanged(flash)


def test_unsigned_release_record_on_a_keyed_device_is_refused(tmp_path, server, files):
    publish(server, files, key=None)
    r, flash = run_check(tmp_path, server)
    assert r["check"] == "unsigned release record: this device accepts signed ones only"
    unchanged(flash)


def test_bundle_with_a_bad_signature_is_refused_and_the_running_version_stays(
        tmp_path, server, files):
    publish(server, files, bundle_key=OTHER_KEY)
    r, flash = run_check(tmp_path, server)
    assert r["status"]["state"] == "failed" and r["status"]["error"] == "bad signature"
    assert "update refused: bad signature" in r["log"]
    assert "update: the running version 1.0.0 stays" in r["log"]
    assert r["restarted"] is None
    unchanged(flash)


@pytest.mark.parametrize("how, reason", [
    ("close", "bundle truncated: "),
    ("reset", "connection lost at "),  # a reset drops what the VM had not read yet
    ("stall", "download stalled at "),
])
def test_interrupted_download_keeps_the_running_version(tmp_path, server, files, how, reason):
    data = publish(server, files)
    cut = len(data) // 2
    server.cuts["/fw/wallbox-9.9.9.wbx"] = (cut, how)
    r, flash = run_check(tmp_path, server, timeout_s=1)
    s = r["status"]
    assert s["state"] == "failed" and s["error"].startswith(reason), s
    got = int(s["error"][len(reason):].split(" ")[0])
    assert s["error"][len(reason):].startswith("%d of %d bytes" % (got, len(data)))
    assert got == cut if how != "reset" else 0 < got <= cut
    assert "update refused: " + s["error"] in r["log"]
    assert r["restarted"] is None
    unchanged(flash)


def test_truncated_release_record_is_refused(tmp_path, server, files):
    publish(server, files)
    server.cuts["/fw/latest.wbr"] = (40, "close")
    r, flash = run_check(tmp_path, server)
    assert r["check"] == "release record truncated (connection closed)", r
    unchanged(flash)


def test_unreachable_address_is_a_clear_message(tmp_path, server):
    server.stop()  # nothing listens there any more
    r, flash = run_check(tmp_path, server)
    assert r["check"].startswith("cannot reach 127.0.0.1"), r
    unchanged(flash)


# --------------------------------------------------------------- on the virtual board
def test_web_check_and_install_refused_while_charging_then_installed(
        start_board, server, files):
    data = publish(server, files)
    prov = dict(json.loads(PROV), update_key=public(KEY).hex())
    w = start_web_board(start_board, {"update.url": server.url("/fw/latest.wbr")},
                        files={"prov.json": json.dumps(prov)}, plugged=True)
    c = Client(w).set_up()
    w.wait_for(charging, timeout=30)
    st, r, _ = c.post("/api/update/check")
    assert st == 409 and r["error"] == "not while charging: stop the session first"
    assert c.post("/api/update/install")[0] == 409
    w.set(plugged=False)
    w.wait_for(lambda w: w.status() == "Idle" and not w.relay_closed(), timeout=20)
    st, r, _ = c.post("/api/update/check")
    assert st == 200 and r["version"] == "9.9.9" and r["newer"] and r["notes"] == NOTES, r
    st, r, _ = c.post("/api/update/install")
    assert st == 200 and r["state"] == "downloading", r
    seen = []
    deadline = time.monotonic() + 120
    while True:
        st, s, _ = c.get("/api/update/status")
        assert st == 200 and s["state"] != "failed", s
        seen.append(s["progress"])
        if s["state"] == "installed":
            break
        assert time.monotonic() < deadline, s
        time.sleep(0.05)
    assert s["progress"] == s["total"] == len(data)
    w.wait_for(lambda w: "restart: software update to 9.9.9" in w.flash_log(), timeout=30)
    time.sleep(2)
    wait_web(w, 60)
    deadline = time.monotonic() + 60
    while True:
        c = Client(w)
        if c.login()[0] == 200 and c.get("/api/v1/status")[1].get("version") == "9.9.9":
            break
        assert time.monotonic() < deadline, "the new version did not come up"
        time.sleep(1)
