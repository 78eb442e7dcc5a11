"""Power cuts for the VM tests: a script that mounts the "flash" (the VM's POSIX files,
or littlefs v2 on a block device whose every write reaches a host file at once, so a
kill between two block writes is a power cut), and the runner that kills a writer."""
import os
import signal
import subprocess
import threading
import time

from vmrun import ROOT, micropython

# argv: MODE ("lfs" or "posix"), IMG (image file or directory), "mkfs" or "-", ...
MOUNT = r"""
import os, sys, vfs
MODE, IMG = sys.argv[1], sys.argv[2]

class Flash:
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
"""


def new_flash(tmp_path, mode):
    """A fresh flash for MOUNT: a directory, or a formatted littlefs image."""
    if mode == "posix":
        img = tmp_path / "flash"
        img.mkdir()
        return str(img)
    img = tmp_path / "flash.img"
    img.write_bytes(b"\xff" * 512 * 256)
    run(tmp_path, MOUNT, "lfs", str(img), "mkfs")
    return str(img)


def _env():
    return dict(os.environ, MICROPYPATH=ROOT + ":.frozen")


def run(tmp_path, script, *args, timeout=60):
    """Run a script in the VM to its end; its output."""
    path = tmp_path / "script.py"
    path.write_text(script)
    out = subprocess.run([micropython(), str(path)] + [str(a) for a in args], env=_env(),
                         capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def cut_power(tmp_path, script, args, delay_s, on_line):
    """Run `script` and kill it (SIGKILL) delay_s after its first line; each complete
    line it printed goes to on_line(text) first. The delay counts from the first line,
    not from the start: a busy host slows the VM's start-up (compiling the firmware), and
    a cut timed from the start would then fall before any work, trial after trial."""
    path = tmp_path / "writer.py"
    path.write_text(script)
    p = subprocess.Popen([micropython(), str(path)] + [str(a) for a in args], env=_env(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    working = threading.Event()

    def read():
        for line in p.stdout:
            if line.endswith("\n"):  # not one cut short by the kill
                on_line(line[:-1])
                working.set()
        working.set()  # it ended by itself: nothing to wait for
    t = threading.Thread(target=read)
    t.start()
    started = working.wait(60)
    if started:
        time.sleep(delay_s)
    p.send_signal(signal.SIGKILL)
    p.wait()
    t.join()
    assert started, "the script printed nothing for 60 s: stuck (%s)" % (args,)
    err = p.stderr.read()
    assert not err, err
