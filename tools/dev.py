#!/usr/bin/env python3
"""One entry point for a fresh machine (Python 3.10+, nothing else):

    python3 tools/dev.py run    set up .venv, start the firmware on the virtual board
    python3 tools/dev.py test   set up .venv, run every test (CPython and MicroPython VM)
                                in parallel workers; WALLBOX_FULL=1 adds the long statistics
    python3 tools/dev.py setup  only set up .venv (and node_modules: axe-core, for the
                                browser test)

Set-up is idempotent: it reinstalls only when requirements-dev.txt changed.
"""
import hashlib
import os
import shutil
import subprocess
import sys
import venv

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, ".venv")
REQS = os.path.join(ROOT, "requirements-dev.txt")
STAMP = os.path.join(VENV, ".requirements.sha256")
PY = os.path.join(VENV, "bin", "python")
WORKERS = "6"  # test workers on the 2-core machines this is made for (docs/decisions.md)


def setup():
    if sys.version_info < (3, 10):
        sys.exit("Python 3.10 or newer is needed (this is %s)" % sys.version.split()[0])
    with open(REQS, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    if os.path.exists(STAMP) and open(STAMP).read() == digest and os.path.exists(PY):
        return
    if not os.path.exists(PY):
        print("creating .venv", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("installing requirements-dev.txt into .venv", flush=True)
    subprocess.check_call([PY, "-m", "pip", "install", "-q", "--upgrade", "pip"])
    subprocess.check_call([PY, "-m", "pip", "install", "-q", "-r", REQS])
    with open(STAMP, "w") as f:
        f.write(digest)


def setup_node():
    """axe-core for the browser test (package.json, pinned in package-lock.json) into the
    git-ignored node_modules/, again only when the lock changed; without npm the browser
    test says what is missing."""
    lock = os.path.join(ROOT, "package-lock.json")
    stamp = os.path.join(ROOT, "node_modules", ".lock.sha256")
    with open(lock, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    if os.path.exists(stamp) and open(stamp).read() == digest:
        return
    if shutil.which("npm") is None:
        print("npm not found: the browser test's accessibility check needs it "
              "(apt-get install npm)", flush=True)
        return
    print("installing package.json's axe-core into node_modules", flush=True)
    subprocess.check_call(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=ROOT)
    with open(stamp, "w") as f:
        f.write(digest)


def main(argv):
    cmd = argv[0] if argv else "help"
    if cmd not in ("run", "test", "setup"):
        print(__doc__)
        return 2
    setup()
    setup_node()
    env = dict(os.environ)
    env["PATH"] = os.path.join(VENV, "bin") + os.pathsep + env.get("PATH", "")
    if cmd == "run":
        args = [PY, "-m", "tools.vboard"] + argv[1:]
    elif cmd == "test":
        # Parallel workers (pytest-xdist): the tests mostly wait on the VMs' timers, so
        # more workers than cores; worksteal evens out tests of very different lengths.
        # Arguments given here come after, and win.
        args = [PY, "-m", "pytest", "host_tests", "-n", WORKERS, "--dist", "worksteal"] + argv[1:]
    else:
        return 0
    os.chdir(ROOT)
    os.execve(PY, args, env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
