"""Power cuts while the backend's transaction queue (services/backend.TxQueue) appends
and acknowledges messages: the VM is killed (SIGKILL) at random moments, hundreds of
times, on the VM's POSIX files and on littlefs v2 (a block device writing every block
straight to a host file). After every cut the queue must load, hold exactly the
messages put and not acknowledged, in order, with nothing acknowledged coming back
except the one acknowledgement that was in flight, and nothing lost but the one put in
flight."""
import json
import os
import random
import shutil
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
from firmware.services.backend import TxQueue
log = Log(echo=False)
"""

# Puts numbered messages and acknowledges the oldest, at random; every third one is a
# "start" whose acknowledgement records a transactionId (number x 10).
WRITER = SETUP + r"""
import random
nxt = int(sys.argv[4])
random.seed(int(sys.argv[5]))
q = TxQueue(log, max_bytes=4096)
while True:
    n = q.pending()
    if n < 6 and (n == 0 or random.getrandbits(2)):
        kind = "StartTransaction" if nxt % 3 == 0 else "MeterValues"
        if q.put(nxt, kind, {"n": nxt, "pad": "x" * (nxt % 61)}):
            print("P", nxt)
            nxt += 1
    else:
        ltx, kind, p = q.head()
        q.ack(ltx, ltx * 10 if kind == "StartTransaction" else None)
        print("A", ltx)
"""

READER = SETUP + r"""
import json
q = TxQueue(log, max_bytes=4096)
out = []
while True:
    rec = q.head()
    if rec is None:
        break
    assert rec[2]["n"] == rec[0]
    out.append(rec[0])
    q.ack(rec[0])  # on a copy of the flash
print(json.dumps({"pending": out, "ids": q.ids, "log": [e[3] for e in log.entries]}))
"""


def run(tmp_path, script, *args):
    path = tmp_path / "script.py"
    path.write_text(script)
    env = dict(os.environ, MICROPYPATH=ROOT + ":.frozen")
    out = subprocess.run([micropython(), str(path)] + [str(a) for a in args], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def cut_power(tmp_path, mode, img, nxt, seed, delay_s):
    """Run the writer, kill it after delay_s; returns the last put and ack it reported."""
    path = tmp_path / "writer.py"
    path.write_text(WRITER)
    env = dict(os.environ, MICROPYPATH=ROOT + ":.frozen")
    p = subprocess.Popen([micropython(), str(path), mode, img, "-", str(nxt), str(seed)],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    last = {"P": nxt - 1, "A": None}

    def read():
        for line in p.stdout:
            part = line.split()
            if len(part) == 2 and line.endswith("\n"):  # not one cut short by the kill
                last[part[0]] = int(part[1])
    t = threading.Thread(target=read)
    t.start()
    time.sleep(delay_s)
    p.send_signal(signal.SIGKILL)
    p.wait()
    t.join()
    err = p.stderr.read()
    assert not err, err
    return last["P"], last["A"]


def trials(tmp_path, mode, img, n_trials):
    rng = random.Random(11)
    nxt, acked = 0, -1  # next number to put; the highest acknowledged so far
    for trial in range(n_trials):
        last_p, last_a = cut_power(tmp_path, mode, img, nxt, trial, rng.uniform(0.03, 0.2))
        if last_a is not None:
            acked = last_a
        copy = str(tmp_path / ("copy.img" if mode == "lfs" else "copy"))
        if mode == "lfs":
            shutil.copy(img, copy)
        else:
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(img, copy)
        state = json.loads(run(tmp_path, READER, mode, copy, "-").strip().splitlines()[-1])
        pend = state["pending"]
        assert pend == list(range(pend[0], pend[0] + len(pend))) if pend else True, pend
        if pend:
            # nothing acknowledged comes back, except the acknowledgement in flight
            assert pend[0] in (acked + 1, acked + 2), (pend, acked)
            # nothing put is lost, except the put in flight
            assert pend[-1] in (last_p, last_p + 1), (pend, last_p)
            nxt = pend[-1] + 1
            acked = pend[0] - 1
        else:
            assert last_p <= acked + 1, (last_p, acked)
            acked = max(acked, last_p)
            nxt = last_p + 1
        assert all(int(k) * 10 == v and int(k) % 3 == 0 for k, v in state["ids"].items())
        assert not [m for m in state["log"] if "unreadable" in m or "corrupt" in m], state["log"]
    return nxt


def test_power_cuts_on_posix_files(tmp_path):
    img = tmp_path / "flash"
    img.mkdir()
    assert trials(tmp_path, "posix", str(img), 120) > 300  # the cuts fell mid-work


def test_power_cuts_on_littlefs(tmp_path):
    img = tmp_path / "flash.img"
    img.write_bytes(b"\xff" * 512 * 256)
    run(tmp_path, SETUP, "lfs", str(img), "mkfs")
    assert trials(tmp_path, "lfs", str(img), 200) > 300
