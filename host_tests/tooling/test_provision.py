"""tools/provision.py: the provisioning record the firmware reads (in the VM), the
label, and a factory reset that keeps it."""
import json
import os
import subprocess
import sys

import pytest

from vmrun import ROOT, micropython

sys.path.insert(0, ROOT)
from tools import provision  # noqa: E402

READ = r"""
import json, os
from firmware.services.platform.log import Log
from firmware.services.platform import config
log = Log(echo=False)
c = config.Config(log)
c.load()
c.update({"charging.max_current_a": 20})
c.factory_reset()
print(json.dumps({"prov": c.prov, "log": [e[3] for e in log.entries],
                  "files": sorted(os.listdir(".")), "a": c.get("charging.max_current_a")}))
"""


def test_provisioned_record_is_read_by_the_firmware_and_survives_factory_reset(tmp_path,
                                                                              capsys):
    key = tmp_path / "release.pub"
    key.write_text("ab" * 32 + "\n")
    state = tmp_path / "flash"
    assert provision.main(["--state", str(state), "--serial", "WB2611000123", "--board",
                           "virtual", "--update-key", str(key)]) == 0
    label = capsys.readouterr().out
    (state / "s.py").write_text(READ)
    out = subprocess.run([micropython(), "s.py"], cwd=str(state), capture_output=True,
                         text=True, env=dict(os.environ, MICROPYPATH=ROOT + ":.frozen"),
                         timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    r = json.loads(out.stdout.strip().splitlines()[-1])
    p = r["prov"]
    assert p["serial"] == "WB2611000123" and p["board"] == "virtual"
    assert p["update_key"] == "ab" * 32
    assert len(p["hotspot_password"]) == 12 and len(p["recovery_password"]) == 16
    assert set(p["hotspot_password"]) <= set(provision.ALPHABET)
    assert "not provisioned: run tools/provision.py" not in r["log"]
    assert "factory reset" in r["log"] and r["a"] == 32
    assert "prov.json" in r["files"] and "config.json" not in r["files"]
    for text in ("WB2611000123", p["hotspot_password"], p["recovery_password"],
                 "admin / WB2611000123"):
        assert text in label
    # a second run does not replace the secrets on the label
    with pytest.raises(SystemExit, match="exists"):
        provision.main(["--state", str(state), "--serial", "WB2", "--board", "virtual"])


def test_passwords_are_unique_and_bad_input_is_refused():
    a = provision.provisioning("WB1", "virtual")
    b = provision.provisioning("WB1", "virtual")
    assert a["hotspot_password"] != b["hotspot_password"]
    with pytest.raises(ValueError, match="board"):
        provision.provisioning("WB1", "esp8266")
    with pytest.raises(ValueError, match="serial"):
        provision.provisioning("WB 1", "virtual")
    with pytest.raises(ValueError, match="WPA2"):
        provision.provisioning("WB1", "virtual", hotspot="short")
    with pytest.raises(ValueError, match="32 bytes"):
        provision.provisioning("WB1", "virtual", update_key="abcd")


def test_the_label_is_a_closed_box_with_every_secret_on_it():
    p = provision.provisioning("VB0460251469", "virtual")
    lines = provision.label(p).splitlines()
    assert {len(line) for line in lines} == {len(lines[0])}, lines  # right border in line
    assert all(line[-1] in "|+" for line in lines)
    text = "\n".join(lines)
    for secret in (p["serial"], p["hotspot_password"], p["recovery_password"]):
        assert secret in text


def test_unprovisioned_device_says_so(tmp_path):
    (tmp_path / "s.py").write_text(READ)
    out = subprocess.run([micropython(), "s.py"], cwd=str(tmp_path), capture_output=True,
                         text=True, env=dict(os.environ, MICROPYPATH=ROOT + ":.frozen"),
                         timeout=60)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert "not provisioned: run tools/provision.py" in r["log"]
    assert r["prov"]["serial"].startswith("UNPROV")
