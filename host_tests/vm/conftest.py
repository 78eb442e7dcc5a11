"""Fixtures that run the whole firmware in the MicroPython VM on the virtual board."""
import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
from tools.vboard.world import World  # noqa: E402

# Short timings so scenarios stay quick; the defaults are tested on the core.
FAST = {"charging.selftest_s": 1, "charging.retry_delay_s": 1}


@pytest.fixture(scope="session")
def firmware_build():
    """The firmware compiled as for a board (tools/build.py), in a directory of its own
    (build/board may be rebuilt by a parallel run): build/test-cache/<hash of the
    sources>/board, built once for all test workers and runs (buildcache.py)."""
    from buildcache import cached_build
    return cached_build()


@pytest.fixture(scope="session")
def scaled_firmware(tmp_path_factory):
    """The firmware from source with its long timeouts divided by timescale.TEST_SCALE
    (tools/vboard/timescale.py), made once per test worker."""
    from tools.vboard.timescale import TEST_SCALE, scaled_tree
    return scaled_tree(str(tmp_path_factory.mktemp("scaled") / "firmware"), TEST_SCALE)


@pytest.fixture(scope="session")
def scaled_build(tmp_path_factory, firmware_build):
    """The compiled firmware (firmware_build) with its long timeouts divided by
    timescale.TEST_SCALE: the scaled modules compiled again, once per test worker."""
    from tools.vboard.timescale import TEST_SCALE, scaled_build
    return scaled_build(firmware_build, str(tmp_path_factory.mktemp("scaled") / "board"),
                        TEST_SCALE)


@pytest.fixture
def start_board(tmp_path, request):
    """start_board(config=None, heap=..., env=None, files=None, wait=True, web=False,
    scaled=False, **inputs) -> a running World. `env`: extra environment for the VM;
    `files`: {name: text} put on its flash first; `wait`: wait until the charging core is
    past its boot phase; `web`: the compiled firmware (as on a board) with its web
    interface on a free port of 127.0.0.1 (`w.web_url`); `scaled`: the firmware with its
    long timeouts (60 s windows...) divided by timescale.TEST_SCALE, the rest real (from
    source; compiled with `web` or `code_root` the compiled firmware, `built`)."""
    worlds = []

    def start(config=None, heap="320k", code_root=None, env=None, files=None, wait=True,
              web=False, scaled=False, **inputs):
        if scaled and (web or code_root is not None):
            assert code_root in (None, request.getfixturevalue("firmware_build")), \
                "scaled: the firmware from source or the compiled one (built)"
            code_root = request.getfixturevalue("scaled_build")
        elif scaled:
            code_root = request.getfixturevalue("scaled_firmware")
        state = tmp_path / ("flash%d" % len(worlds))
        state.mkdir()
        cfg = dict(FAST)
        cfg.update(config or {})
        (state / "config.json").write_text(json.dumps(cfg))
        for name, text in (files or {}).items():
            (state / name).write_text(text)
        kw = {"code_root": code_root} if code_root else {}
        if web:
            kw = {"code_root": code_root or request.getfixturevalue("firmware_build"),
                  "web_port": 0}
        w = World(str(state), heap=heap, extra_env=env, **kw)
        w.inputs.update(inputs)
        w.start()
        worlds.append(w)
        if wait:
            w.wait_for(lambda w: w.tele(1) not in (None, 0), timeout=20)  # past the boot phase
        return w

    yield start
    for w in worlds:
        w.stop()


@pytest.fixture(scope="session")
def built(firmware_build):
    """The compiled firmware, for the tests that run it as a board does: compiling the
    backend or the updater from source at import would need far more heap than a board
    has, and stall the VM."""
    return firmware_build


@pytest.fixture
def start(start_board, built):
    """start(config, **kw): a board running the compiled firmware with 384 KB of heap
    (room for the backend's CALL answers) unless `heap` says otherwise."""
    def go(config, **kw):
        kw.setdefault("heap", "384k")
        return start_board(config, code_root=built, **kw)
    return go


@pytest.fixture
def cs():
    """A real OCPP 1.6J central system (the `ocpp` package) on 127.0.0.1."""
    from tools.vboard.csms import CentralSystem
    c = CentralSystem().start()
    yield c
    c.stop()
