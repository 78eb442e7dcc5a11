"""The shipped configuration: the firmware and microdot frozen into a 32-bit MicroPython
image (tools/manifest.py; docs/hardware.md builds it, WALLBOX_VM names it), with only
boot.py and main.py on the board's flash. Skipped, with the reason, where that VM is
absent (CI has none)."""
import gzip
import json
import shutil
import urllib.request

import pytest
from conftest import FAST, ROOT

from tools.vboard.world import World, frozen_vm

VM, WHY_NOT = frozen_vm()
pytestmark = pytest.mark.skipif(VM is None, reason="32-bit frozen VM: %s" % WHY_NOT)


def charging(w):
    return w.status() == "Charging" and w.relay_closed()


@pytest.fixture
def frozen_board(tmp_path):
    """frozen_board(config=None, web=False) -> a running World on the frozen VM. Its code
    root holds boot.py and main.py only: the firmware can only come from the image."""
    root = tmp_path / "flash-root"
    root.mkdir()
    for name in ("boot.py", "main.py"):
        shutil.copy(str(ROOT + "/" + name), str(root))
    worlds = []

    def start(config=None, web=False):
        state = tmp_path / ("flash%d" % len(worlds))
        state.mkdir()
        (state / "config.json").write_text(json.dumps(dict(FAST, **(config or {}))))
        w = World(str(state), heap="128k", code_root=str(root), vm=VM,
                  web_port=0 if web else None)
        worlds.append(w)
        return w.start()

    yield start
    for w in worlds:
        w.stop()


def test_a_charging_session_runs_on_the_frozen_image(frozen_board):
    w = frozen_board()
    assert w.frozen
    w.wait_for(lambda w: w.status() == "Idle", timeout=20)
    assert not w.relay_closed()
    w.set(plugged=True, car_state="B")
    w.wait_for(lambda w: w.status() == "ReadyForCharging" and w.state()["pilot"]["pwm_on"])
    assert not w.relay_closed()
    w.set(car_state="C")
    w.wait_for(charging)
    w.wait_for(lambda w: abs(w.state()["firmware"]["current_a"] - 32.0) <= 0.2)
    w.set(car_state="B")
    w.wait_for(lambda w: not w.relay_closed() and w.status() == "ReadyForCharging")
    w.set(plugged=False)
    w.wait_for(lambda w: w.status() == "Idle")
    assert w.fault() == 0


def test_the_frozen_web_interface_answers(frozen_board):
    w = frozen_board(web=True)
    w.wait_for(lambda w: w.status() == "Idle", timeout=20)

    def page():
        try:
            with urllib.request.urlopen(w.web_url + "/", timeout=2) as r:
                return r.status, r.headers.get("Content-Encoding"), r.read()
        except OSError:
            return None
    w.wait_for(lambda w: page() is not None, timeout=20)
    status, encoding, body = page()  # microdot from the image, the page from the flash
    assert status == 200 and encoding == "gzip"
    assert b"<html" in gzip.decompress(body).lower()
