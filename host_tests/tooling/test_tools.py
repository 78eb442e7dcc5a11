"""The build, deploy and REPL diagnostics tools, against the real mpy-cross and VM."""
import os
import re
import subprocess
import sys

import pytest
from vmrun import ROOT, micropython, run_on_inert_board

sys.path.insert(0, ROOT)
from tools import build, deploy  # noqa: E402


def test_build_compiles_every_firmware_module(tmp_path):
    sizes = build.build(str(tmp_path / "board"))
    sources = list(build.firmware_modules())
    assert len(sources) > 10
    for rel in sources:
        assert rel[:-3] + ".mpy" in sizes, rel
        assert sizes[rel[:-3] + ".mpy"] > 0
    assert "boot.py" in sizes and "main.py" in sizes  # the board runs these from source


def test_tracebacks_name_the_module_not_a_file(tmp_path):
    # the dotted name is interned anyway; a file name would be one more string in RAM
    assert build.source_name("firmware/core/charger.py") == "firmware.core.charger"
    assert build.source_name("firmware/core/__init__.py") == "firmware.core"
    assert build.source_name("microdot/__init__.py") == "microdot"
    build.build(str(tmp_path / "board"))
    script = tmp_path / "t.py"
    script.write_text("import sys\nfrom firmware.core import settings\ntry:\n"
                      "    settings.check('charging.phases', 2)\n"
                      "except ValueError as e:\n    sys.print_exception(e)\n")
    env = dict(os.environ, MICROPYPATH=str(tmp_path / "board") + ":.frozen")
    out = subprocess.run([micropython(), str(script)], env=env, capture_output=True,
                         text=True, timeout=60).stdout
    assert re.search(r'File "firmware\.core\.settings", line \d+, in check', out), out
    assert "ValueError: must be one of 1, 3" in out


def test_the_benchmarks_vm_scripts_compile_with_mpy_cross(tmp_path):
    # run in the VM from source by tools/bench: each must at least compile for it
    folder = os.path.join(ROOT, "tools", "bench", "vm")
    scripts = sorted(f for f in os.listdir(folder) if f.endswith(".py"))
    assert "tick.py" in scripts and "web_resident.py" in scripts
    for f in scripts:
        out = subprocess.run([build.mpy_cross(), "-o", str(tmp_path / (f[:-3] + ".mpy")),
                              os.path.join(folder, f)], capture_output=True, text=True)
        assert out.returncode == 0, (f, out.stderr)


def test_the_virtual_boards_modules_are_built_with_the_links_constants_written_in():
    src = "import time\nimport vlink\n\nop = vlink.SET_IN if time else vlink.FMT\n"
    assert build.inline_link(src) == "import time\n\nop = 1 if time else '<HHi'\n"
    with pytest.raises(ValueError):
        build.inline_link("import vlink\nf = vlink.missing\n")  # not a constant


def test_deploy_copies_the_build_with_mpremote():
    cmds = deploy.commands("/dev/ttyUSB0")
    assert all(c[1:3] == ["connect", "/dev/ttyUSB0"] for c in cmds)
    assert cmds[0][3:] == ["cp", "-r", os.path.join(build.OUT, "firmware"), ":"]
    assert cmds[-1][3:] == ["reset"]
    assert deploy.commands("COM3", reset=False)[-1][3] == "cp"


DIAG = r"""
import inproc_world
inproc_world.setup()
from firmware import app, diag
a = app.App()
app.current = a
st = inproc_world.Stepper(a.control)
st.run(3000)
a.log.add("fault", "fault 8005: example")
diag.status()
diag.pilot(2)
diag.faults()
diag.log(3)
diag.mem()
"""


def test_diag_reports_the_live_state_in_the_vm(tmp_path):
    build.build_vm(str(tmp_path / "vm"))
    text = run_on_inert_board(tmp_path, DIAG, timeout=120).stdout
    assert "status      Charging (charging)" in text
    assert "relay       closed | output live" in text
    assert "offered     32.0 A | limit 32.0 A set by installation" in text
    assert "high   5999 mV  low -12001 mV  duty  5333 (32.0 A offered)" in text
    assert "fault 8005: example" in text
    used, free, total = (int(x) for x in re.search(
        r"heap +(\d+) KB used, (\d+) KB free of (\d+) KB", text).groups())
    assert used > 50 and free > 0 and 1900 < total <= 2048  # -X heapsize=2m less the GC tables
    assert "max free sz" in text
    assert int(re.search(r"qstr pool: n_pool=\d+, n_qstr=(\d+)", text).group(1)) > 300
    assert re.search(r"loaded +\d+ firmware modules: .*\bapp\b.*\bcore\.charger\b", text)
