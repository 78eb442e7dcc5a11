"""Power cuts during writes: the VM is killed (SIGKILL) at random moments while it saves
the settings and a queue record, hundreds of times; every file must then load as the
old or the new content, never as something else and never as an error.

Two file systems: the VM's POSIX files (rename is atomic there) and littlefs v2 (the
boards' file system, MicroPython's own VfsLfs2) on a block device that writes every
block straight to a host file, so a kill between two block writes is a power cut.
"""
import os
import random
import signal
import subprocess
import threading
import time

from vmrun import ROOT, micropython

SETUP = r"""
import os, sys, vfs
MODE, IMG = sys.argv[1], sys.argv[2]

class Flash:
    # a block device whose every write reaches the host file at once
    def __init__(self, path, blocks, size=512):
        self.f = open(path, "r+b")
        self.n = blocks
        self.bs = size
    def readblocks(self, n, buf, off=0):
        self.f.seek(n * self.bs + off)
        self.f.readinto(buf)
    def writeblocks(self, n, buf, off=0):
        self.f.seek(n * self.bs + off)
        self.f.write(buf)
        self.f.flush()
    def ioctl(self, op, arg):
        if op == 4:
            return self.n
        if op == 5:
            return self.bs
        if op == 6:
            return 0

if MODE == "lfs":
    dev = Flash(IMG, 256)
    if sys.argv[3] == "mkfs":
        vfs.VfsLfs2.mkfs(dev)
    vfs.mount(vfs.VfsLfs2(dev), "/flash")
    os.chdir("/flash")
else:
    os.chdir(IMG)
from firmware.services.log import Log
from firmware.services import config
log = Log(echo=False)
"""

WRITER = SETUP + r"""
i = int(sys.argv[4])
cfg = config.Config(log)
while True:
    config.save_json("queue.json", [[k, "tx%d" % k] for k in range(i % 23)] + [i])
    cfg.update({"charging.max_current_a": 6 + i % 70, "net.hostname": "h%d" % i})
    print(i)
    i += 1
"""

READER = SETUP + r"""
import json
q = config.load_json("queue.json", None, log)
cfg = config.Config(log)
cfg.load()
print(json.dumps({"queue": q, "a": cfg.get("charging.max_current_a"),
                  "host": cfg.get("net.hostname"), "log": [e[3] for e in log.entries]}))
"""


def run(tmp_path, script, *args, timeout=60):
    path = tmp_path / "script.py"
    path.write_text(script)
    env = dict(os.environ, MICROPYPATH=ROOT + ":.frozen")
    out = subprocess.run([micropython(), str(path)] + [str(a) for a in args], env=env,
                         capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def cut_power(tmp_path, mode, img, start, delay_s):
    """Start the writer, kill it after delay_s; returns the last save it reported done."""
    path = tmp_path / "writer.py"
    path.write_text(WRITER)
    env = dict(os.environ, MICROPYPATH=ROOT + ":.frozen")
    p = subprocess.Popen([micropython(), str(path), mode, img, "-", str(start)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    done = []

    def read():
        for line in p.stdout:
            done.append(int(line))
    t = threading.Thread(target=read)
    t.start()
    time.sleep(delay_s)
    p.send_signal(signal.SIGKILL)
    p.wait()
    t.join()
    err = p.stderr.read()
    assert not err, err
    return done[-1] if done else start - 1


def check(state, n):
    """The files hold save n (completed) or n + 1 (cut short), consistently.
    Returns the save that both files hold."""
    q = state["queue"]
    got = q[-1]
    assert got in (n, n + 1), (got, n)
    assert q[:-1] == [[k, "tx%d" % k] for k in range(got % 23)]
    # the settings are saved after the queue: the same save or the one before, >= n
    ok = [k for k in (got - 1, got) if k >= n and (
        k < 0 and state["a"] == 32 and state["host"] == "" or
        k >= 0 and state["a"] == 6 + k % 70 and state["host"] == "h%d" % k)]
    assert ok, (state, n)
    assert not [m for m in state["log"] if "corrupt" in m or "defaults" in m], state["log"]
    return ok[-1]  # the save both files have completed: the next writer starts after it


def trials(tmp_path, mode, img, n_trials):
    import json
    rng = random.Random(7)
    last = -1
    for trial in range(n_trials):
        done = cut_power(tmp_path, mode, img, last + 1, rng.uniform(0.03, 0.25))
        state = json.loads(run(tmp_path, READER, mode, img, "-").strip().splitlines()[-1])
        assert state["queue"] is not None or done < 0
        if state["queue"] is None:
            continue
        last = check(state, done)
    return last


def test_power_cuts_on_posix_files_leave_old_or_new(tmp_path):
    img = tmp_path / "flash"
    img.mkdir()
    last = trials(tmp_path, "posix", str(img), 150)
    assert last > 150  # the writer made progress: the cuts fell inside saves


def test_power_cuts_on_littlefs_leave_old_or_new(tmp_path):
    img = tmp_path / "flash.img"
    img.write_bytes(b"\xff" * 512 * 256)
    run(tmp_path, SETUP, "lfs", str(img), "mkfs")
    last = trials(tmp_path, "lfs", str(img), 250)
    assert last > 250
