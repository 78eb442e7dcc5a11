"""FAT images for the virtual board's SD card (tools/vboard/vm/sdcard_sim.py), made and
read back with MicroPython's own VfsFat in the VM: `make(path, files)` formats an
image (512 KB per CSD unit) and puts files on it; `read(path)` returns its files."""
import json
import os
import subprocess

from vmrun import micropython

_SCRIPT = r"""
import json, os, sys, vfs
class Dev:
    def __init__(self, path):
        self.f = open(path, "r+b")
        self.f.seek(0, 2)
        self.n = self.f.tell() // 512
    def readblocks(self, b, buf):
        self.f.seek(b * 512)
        self.f.readinto(buf)
    def writeblocks(self, b, buf):
        self.f.seek(b * 512)
        self.f.write(buf)
    def ioctl(self, op, arg):
        return self.n if op == 4 else 512 if op == 5 else 0
cmd, path = sys.argv[1], sys.argv[2]
dev = Dev(path)
if cmd == "make":
    vfs.VfsFat.mkfs(dev)
vfs.mount(vfs.VfsFat(dev), "/sd")
if cmd == "make":
    spec = json.loads(sys.stdin.read())
    for name in spec:
        d = ""
        for part in name.split("/")[:-1]:
            d += "/" + part
            try:
                os.mkdir("/sd" + d)
            except OSError:
                pass
        with open("/sd/" + name, "wb") as f:
            data = spec[name]
            if isinstance(data, int):  # that many bytes: fills the card
                chunk = bytes(4096)
                while data > 0:
                    f.write(chunk[:min(data, 4096)])
                    data -= 4096
            else:
                f.write(data.encode())
    print(json.dumps({"free": os.statvfs("/sd")[0] * os.statvfs("/sd")[3]}))
else:
    out = {}
    def walk(d):
        for e in os.ilistdir("/sd" + d):
            p = d + "/" + e[0]
            if e[1] == 0x4000:
                walk(p)
            elif e[3] > 65536:  # a filler: its size only
                out[p[1:]] = e[3]
            else:
                with open("/sd" + p, "rb") as f:
                    out[p[1:]] = f.read().decode()
    walk("")
    print(json.dumps(out))
vfs.umount("/sd")
dev.f.close()
"""


def _run(args, stdin=""):
    out = subprocess.run([micropython(), "-c", _SCRIPT] + args, input=stdin,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def make(path, files=None, units=1):
    """A formatted card image of `units` × 512 KB with `files` ({name: text, or a size
    in bytes of zeros}); returns the free bytes left."""
    new = str(path) + ".new"  # made beside it, then in at once: a card inserted whole
    with open(new, "wb") as f:
        f.truncate(units * 512 * 1024)
    free = _run(["make", new], json.dumps(files or {}))["free"]
    os.replace(new, path)
    return free


def read(path):
    """{name: text (or the size of a file over 64 KB)} of every file on the image."""
    return _run(["read", str(path)])


def remove(path):
    os.rename(path, str(path) + ".out")


def insert(path):
    os.rename(str(path) + ".out", path)
