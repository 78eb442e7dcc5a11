"""Field tools on the host: deploy commands, compiled libraries, the freeze manifest's
paths, and what a bundle holds."""
import os
import sys

from vmrun import ROOT

sys.path.insert(0, ROOT)
from tools import build, bundle, deploy  # noqa: E402


def test_deploy_copies_firmware_libraries_and_loader_and_sets_the_board(tmp_path):
    build.build()
    cmds = deploy.commands("/dev/ttyACM0", board="pico_w")
    args = [c[3:] for c in cmds]
    assert args[0] == ["cp", "-r", os.path.join(build.OUT, "firmware"), ":"]
    assert args[1] == ["cp", "-r", os.path.join(build.OUT, "lib"), ":"]
    assert args[2] == ["cp", "-r", os.path.join(build.OUT, "www"), ":"]
    assert args[3][0] == "cp" and args[3][-1] == ":"
    assert args[4][0] == "exec" and "p['board'] = 'pico_w'" in args[4][1]
    assert args[5] == ["reset"]
    for n in ("microdot", "helpers", "multipart", "websocket"):
        assert os.path.getsize(os.path.join(build.OUT, "lib", "microdot", n + ".mpy")) > 0


def test_freeze_manifest_names_existing_sources():
    calls = []
    here = os.getcwd()
    os.chdir(os.path.join(ROOT, "tools"))
    try:
        with open("manifest.py") as f:
            exec(f.read(), {"include": lambda p: calls.append(("include", p)),
                            "package": lambda n, files=None, base_path=".":
                            calls.append(("package", n, files, base_path))})
    finally:
        os.chdir(here)
    assert calls[0] == ("include", "$(PORT_DIR)/boards/manifest.py")
    for _, name, files, base in calls[1:]:
        assert os.path.isdir(os.path.join(base, name)), (name, base)
        for f in files or ():
            assert os.path.exists(os.path.join(base, name, f)), f


def test_bundle_holds_the_firmware_and_libraries_but_not_the_loader(tmp_path):
    out = str(tmp_path / "board")
    build.build(out)
    files = bundle.collect(out)
    assert "firmware/app.mpy" in files and "lib/microdot/microdot.mpy" in files
    assert not [p for p in files if not p.startswith(("firmware/", "lib/", "www/"))]
    data = bundle.make(files, "1.0.0")
    assert data[:4] == b"WBX1" and data.endswith(files[list(files)[-1]])
