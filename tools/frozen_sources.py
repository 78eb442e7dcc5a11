"""The sources tools/manifest.py freezes into an image, and their hash. The manifest
records the hash beside the image it builds (RECORD in the build folder, which holds
the binary); frozen_vm() (tools/vboard/process.py) compares it with the current
sources, so no figure quietly comes from an image of older firmware."""
import hashlib
import importlib.util
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECORD = "frozen-sources.sha256"
MICRODOT_FILES = ("__init__.py", "microdot.py", "helpers.py", "multipart.py", "websocket.py",
                  "sse.py", "cors.py")


def files(root=ROOT):
    """[(name, path)] of everything the manifest freezes from this repository and the
    venv's microdot, and the manifest itself, sorted by name."""
    out = []
    for sub in ("firmware", os.path.join("tools", "frozen")):
        for folder, dirs, names in os.walk(os.path.join(root, sub)):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            for name in names:
                if name.endswith(".py"):
                    path = os.path.join(folder, name)
                    out.append((os.path.relpath(path, root), path))
    out.append(("tools/manifest.py", os.path.join(root, "tools", "manifest.py")))
    microdot = os.path.dirname(importlib.util.find_spec("microdot").origin)
    out += [("microdot/" + name, os.path.join(microdot, name)) for name in MICRODOT_FILES]
    return sorted(out)


def digest(root=ROOT):
    """The SHA-256 (hex) over the names and contents of files(root)."""
    h = hashlib.sha256()
    for name, path in files(root):
        with open(path, "rb") as f:
            data = f.read()
        h.update(b"%s\0%d\0" % (name.replace(os.sep, "/").encode(), len(data)))
        h.update(data)
    return h.hexdigest()


def record(build_dir, root=ROOT):
    """Write digest(root) to RECORD in `build_dir` (the manifest, at each build)."""
    os.makedirs(build_dir, exist_ok=True)
    with open(os.path.join(build_dir, RECORD), "w") as f:
        f.write(digest(root) + "\n")


def why_stale(exe, root=ROOT):
    """None if the image `exe` was built from the current sources (its folder's RECORD
    matches digest(root)), else the reason, in one line, with how to rebuild it."""
    rebuild = "rebuild it (docs/hardware.md, \"32-bit unix VM\")"
    try:
        with open(os.path.join(os.path.dirname(os.path.abspath(exe)), RECORD)) as f:
            built = f.read().strip()
    except OSError:
        return "%s has no %s beside it (built before sources were recorded): %s" % (
            exe, RECORD, rebuild)
    now = digest(root)
    if built != now:
        return "%s was built from other firmware sources (recorded %s, now %s): %s" % (
            exe, built[:12], now[:12], rebuild)
    return None
