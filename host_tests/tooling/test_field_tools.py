"""Field tools on the host: deploy commands, compiled libraries, the freeze manifest's
paths, and what a bundle holds."""
import os
import sys

import pytest
from vmrun import ROOT

sys.path.insert(0, ROOT)
from tools import build, bundle, deploy  # noqa: E402

# These tests build into the shared build/board and build/romfs: one at a time.
pytestmark = pytest.mark.usefixtures("shared_build_dir")


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


def run_manifest(include, rp2=False):
    """tools/manifest.py run as MicroPython's makemanifest runs it (from its folder), with
    `include` standing in for makemanifest's and the port's modules/ those of rp2 or of
    another port; returns the calls it made."""
    calls = []

    def freeze(path, script=None):
        if not rp2:  # makemanifest's error for a file it cannot find
            raise Exception("Cannot stat %s/%s" % (path, script[0]))
        calls.append(("freeze", path, script))
    here = os.getcwd()
    os.chdir(os.path.join(ROOT, "tools"))
    try:
        with open("manifest.py") as f:
            exec(f.read(), {"include": lambda p: (calls.append(("include", p)), include(p)),
                            "require": lambda n: calls.append(("require", n)),
                            "package": lambda n, files=None, base_path=".":
                            calls.append(("package", n, files, base_path)),
                            "module": lambda n, base_path=".":
                            calls.append(("module", n, base_path)),
                            "freeze": freeze})
    finally:
        os.chdir(here)
    return calls


def test_freeze_manifest_names_existing_sources():
    """One manifest for every image: the port's own frozen modules, ssl, the firmware
    and microdot (the frozen 32-bit build in docs/hardware.md is the full check)."""
    calls = run_manifest(lambda p: None)
    assert calls[:2] == [("include", "$(PORT_DIR)/boards/manifest.py"), ("require", "ssl")]
    packages = [c[1:] for c in calls if c[0] == "package"]
    assert [p[0] for p in packages] == ["firmware", "microdot"]
    for name, files, base in packages:
        assert os.path.isdir(os.path.join(base, name)), (name, base)
        for f in files or ():
            assert os.path.exists(os.path.join(base, name, f)), f


def test_freeze_manifest_takes_the_unix_variant_where_the_port_has_no_boards():
    def include(path):
        if path.endswith("/boards/manifest.py"):
            raise OSError("Error in manifest file: %s: No such file or directory" % path)
    calls = run_manifest(include)
    assert calls[1] == ("include", "$(PORT_DIR)/variants/standard/manifest.py")


def test_freeze_manifest_gives_rp2_our_boot_instead_of_the_ports():
    """The Pico W image mounts its file system 128 KB short (tools/frozen/rp2/_boot.py):
    the port's modules without its _boot.py, ours instead, then what the port's
    boards/manifest.py adds."""
    calls = run_manifest(lambda p: None, rp2=True)
    assert calls[0] == ("freeze", "$(PORT_DIR)/modules", ("rp2.py", "_boot_fat.py"))
    assert calls[1][:2] == ("module", "_boot.py")
    assert os.path.exists(os.path.join(calls[1][2], "_boot.py"))
    assert ("include", "$(PORT_DIR)/boards/manifest.py") not in calls
    assert ("include", "$(MPY_DIR)/extmod/asyncio") in calls and ("require", "neopixel") in calls


def test_bundle_holds_the_firmware_and_libraries_but_not_the_loader(tmp_path):
    out = str(tmp_path / "board")
    build.build(out)
    files = bundle.collect(out)
    assert "firmware/app.mpy" in files and "lib/microdot/microdot.mpy" in files
    assert not [p for p in files if not p.startswith(("firmware/", "lib/", "www/"))]
    data = bundle.make(files, "1.0.0")
    assert data[:4] == b"WBX1" and data.endswith(files[list(files)[-1]])


def test_romfs_deploy_clears_old_copies_then_writes_the_image(tmp_path):
    build.build()
    cmds = deploy.commands("/dev/ttyUSB0", romfs=True, reset=False)
    args = [c[3:] for c in cmds]
    assert args[0][0] == "exec" and "['/firmware', '/lib/microdot']" in args[0][1]
    assert args[1] == ["romfs", "deploy", deploy.ROMFS_TREE]
    assert [a[0] for a in args[2:]] == ["cp", "cp"]  # web pages, then boot.py and main.py
    assert not [a for a in args if a[:2] == ["cp", "-r"] and a[2].endswith("firmware")]


def test_frozen_deploy_clears_old_copies_and_copies_only_pages_and_loader(tmp_path):
    build.build()
    cmds = deploy.commands("/dev/ttyUSB0", frozen=True, reset=False)
    args = [c[3:] for c in cmds]
    assert args[0][0] == "exec" and "['/firmware', '/lib/microdot']" in args[0][1]
    assert args[1] == ["cp", "-r", os.path.join(build.OUT, "www"), ":"]
    assert args[2] == ["cp", os.path.join(build.OUT, "boot.py"),
                       os.path.join(build.OUT, "main.py"), ":"]
    assert len(args) == 3


def test_romfs_image_runs_the_firmware_from_rom_and_old_copies_are_deleted(tmp_path):
    """The deploy tree, built into an image by mpremote as `romfs deploy` does, mounted
    at /rom in the VM: the firmware and the web library import from it. The clean-up
    script deletes a previous install's trees and ignores what is not there."""
    import subprocess
    from vmrun import result_line, run_on_inert_board
    build.build()
    tree = deploy.romfs_tree()
    assert sorted(os.listdir(tree)) == ["firmware", "lib"]
    image = str(tmp_path / "fw.romfs")
    subprocess.run([deploy.mpremote(), "romfs", "-o", image, "build", tree], check=True,
                   capture_output=True)
    old = tmp_path / "flash"
    (old / "firmware" / "core").mkdir(parents=True)
    (old / "firmware" / "core" / "pilot.mpy").write_bytes(b"old")
    (old / "lib" / "microdot").mkdir(parents=True)
    (old / "lib" / "microdot" / "microdot.mpy").write_bytes(b"old")
    (old / "lib" / "keep.py").write_text("# somebody else's library")
    clean = deploy.REMOVE_CODE % [str(old / "firmware"), str(old / "lib" / "microdot"),
                                  str(old / "nothing")]
    script = clean + r"""
import sys, vfs, json
with open(%r, "rb") as f:
    vfs.mount(vfs.VfsRom(f.read()), "/rom")
sys.path[:0] = ["/rom", "/rom/lib"]
from firmware import app
from firmware.services.web import server as web
import microdot
print("RESULT " + json.dumps([app.__file__, microdot.__file__]))
""" % image
    proc = run_on_inert_board(tmp_path, script)
    files = result_line(proc)
    assert files[0] == "/rom/firmware/app.mpy" and files[1].startswith("/rom/lib/microdot/")
    assert proc.stdout.count("deleted ") == 5  # two files, three folders
    assert sorted(os.listdir(old)) == ["lib"] and os.listdir(old / "lib") == ["keep.py"]
