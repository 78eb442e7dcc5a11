"""A frozen image is only measured when it holds the current firmware sources: its
build records their hash beside it (tools/manifest.py, tools/frozen_sources.py) and
frozen_vm_state compares it. A fake source tree and a fake image folder: no real build."""
import os
import sys

import pytest

from tools import frozen_sources
from tools.bench import frozen_vm as bench_frozen_vm
from tools.vboard.process import frozen_vm_state

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


@pytest.fixture
def tree(tmp_path):
    """A source tree with what the manifest freezes, and an image folder built from it
    (a VM that 'imports' anything: the frozen check passes, only the hash decides)."""
    root = str(tmp_path / "repo")
    write(os.path.join(root, "firmware", "core", "ticks.py"), "TICKS = 1\n")
    write(os.path.join(root, "firmware", "app", "main.py"), "import core\n")
    write(os.path.join(root, "tools", "manifest.py"), "package('firmware')\n")
    write(os.path.join(root, "tools", "frozen", "rp2", "_boot.py"), "import os\n")
    image = os.path.join(root, "build", "unix32", "micropython")
    write(image, "#!/bin/sh\nexit 0\n")
    os.chmod(image, 0o755)
    frozen_sources.record(os.path.dirname(image), root)
    return root, image


def test_an_image_of_the_current_sources_is_used(tree, monkeypatch):
    root, image = tree
    monkeypatch.delenv("WALLBOX_VM", raising=False)
    assert frozen_sources.why_stale(image, root) is None
    assert frozen_vm_state(root) == (image, None, None)


@pytest.mark.parametrize("change", ["edit", "add", "manifest", "rp2 boot"])
def test_a_changed_source_makes_the_image_stale(tree, monkeypatch, change):
    root, image = tree
    monkeypatch.setenv("WALLBOX_VM", image)
    path = {"edit": "firmware/core/ticks.py", "add": "firmware/services/new.py",
            "manifest": "tools/manifest.py", "rp2 boot": "tools/frozen/rp2/_boot.py"}[change]
    write(os.path.join(root, path), "CHANGED = 2\n")
    why = frozen_sources.why_stale(image, root)
    assert "built from other firmware sources" in why and "rebuild it" in why
    assert frozen_vm_state(root) == (None, "stale", why)


def test_what_is_not_frozen_leaves_the_image_current(tree):
    root, image = tree
    write(os.path.join(root, "firmware", "core", "__pycache__", "ticks.cpython-311.pyc"), "x")
    write(os.path.join(root, "firmware", "README.md"), "notes\n")
    write(os.path.join(root, "host_tests", "test_x.py"), "def test(): pass\n")
    assert frozen_sources.why_stale(image, root) is None


def test_an_image_without_a_record_is_stale(tree):
    root, image = tree
    os.remove(os.path.join(os.path.dirname(image), frozen_sources.RECORD))
    why = frozen_sources.why_stale(image, root)
    assert "has no %s" % frozen_sources.RECORD in why and "rebuild it" in why


def test_the_bench_reports_stale_and_missing_figures_by_name(tree, monkeypatch):
    root, image = tree  # its record: the fake tree's hash, not this repository's sources
    monkeypatch.setenv("WALLBOX_VM", image)
    vm, out = bench_frozen_vm("heap32")
    assert vm is None and list(out) == ["heap32_stale"] and "rebuild" in out["heap32_stale"]
    monkeypatch.setenv("WALLBOX_VM", os.path.join(root, "nowhere", "micropython"))
    vm, out = bench_frozen_vm("latency32")
    assert vm is None and list(out) == ["latency32_skipped"]


def test_the_manifest_records_the_hash_in_the_build_folder(tmp_path, monkeypatch):
    """tools/manifest.py as makemanifest runs it (from its own folder, its API given, the
    build folder as -b): the record is the current sources' hash."""
    build = str(tmp_path / "unix32")
    calls = []

    def freeze(*args):  # not the rp2 port
        raise Exception("Cannot stat $(PORT_DIR)/modules")

    def include(path):
        calls.append(path)
        if path.endswith("boards/manifest.py"):  # the unix port has none
            raise Exception("No such file: " + path)

    api = {"freeze": freeze, "include": include, "require": lambda *a, **k: None,
           "package": lambda *a, **k: None, "module": lambda *a, **k: None}
    monkeypatch.chdir(os.path.join(REPO, "tools"))
    monkeypatch.setattr(sys, "argv", ["makemanifest.py", "-o", build + "/frozen_content.c",
                                      "-v", "PORT_DIR=/mp/ports/unix", "-b", build,
                                      "tools/manifest.py"])
    monkeypatch.setattr(sys, "path", list(sys.path))  # the manifest puts the repository first
    with open("manifest.py") as f:
        exec(compile(f.read(), "manifest.py", "exec"), api)
    with open(os.path.join(build, frozen_sources.RECORD)) as f:
        assert f.read().strip() == frozen_sources.digest(REPO)
