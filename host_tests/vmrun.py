"""Helpers to run code in the MicroPython VM from pytest."""
import json
import os
import shutil
import socket
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def micropython():
    exe = os.path.join(os.path.dirname(sys.executable), "micropython")
    if os.path.exists(exe):
        return exe
    exe = shutil.which("micropython")
    if exe is None:
        raise RuntimeError("the `micropython` command is missing: "
                           "pip install -r requirements-dev.txt")
    return exe


def run_vm_tests(files, heap="4m", timeout=600):
    """Run test modules in the VM; returns (results, done counts, stderr)."""
    env = dict(os.environ)
    env["MICROPYPATH"] = ":".join([os.path.join(ROOT, "host_tests", "shim", "vm"), ROOT,
                                   os.path.join(ROOT, "host_tests", "core"), ".frozen"])
    proc = subprocess.run([micropython(), "-X", "heapsize=" + heap,
                           os.path.join(ROOT, "tools", "vmtest.py")] + list(files),
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    results, done = [], {}
    for line in proc.stdout.splitlines():
        if not line.startswith("{"):
            continue
        rec = json.loads(line)
        if "done" in rec:
            done[rec["file"]] = rec["done"]
        else:
            results.append(rec)
    return results, done, proc.stdout + proc.stderr


def run_on_inert_board(workdir, script, heap="2m", timeout=300):
    """Run `script` (text) in the VM with the virtual board's hardware modules but no
    world (the inert board: chip models alone); returns the finished process, having
    checked its exit status."""
    path = os.path.join(str(workdir), "vm_script.py")
    with open(path, "w") as f:
        f.write(script)
    env = dict(os.environ, MICROPYPATH=":".join([os.path.join(ROOT, "tools", "vboard", "vm"),
                                                 ROOT, ".frozen"]))
    env.pop("VBOARD_LINK", None)
    proc = subprocess.run([micropython(), "-X", "heapsize=" + heap, path], cwd=str(workdir),
                          env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def result_line(proc):
    """The JSON after the last 'RESULT ' line a VM script printed."""
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    assert lines, proc.stdout + proc.stderr
    return json.loads(lines[-1][7:])
