"""The virtual board's flash: the raw journal partition (a file-backed block device with
NOR flash's rules) and a count of every write to the file system, each reported to the
world (vlink.FLASH) with the relay's state at that moment as the VM saw it, which the
world counts: the firmware must neither erase nor write files while the relay is closed
(docs/decisions.md, host_tests/vm/test_flash_while_charging.py).

`Partition` behaves like esp32.Partition / rp2.Flash(start=, len=): 4 KB blocks,
writeblocks(block, buf) erases then writes, writeblocks(block, buf, offset) only
programs (bits go from 1 to 0, an 0xFF byte programs nothing; a byte programmed where
one was programmed before is a defect, reported as FLASH_OVERWRITE), ioctl(6, block)
erases. Every operation reaches the host file at once, so a kill of the VM is a power
cut.

`install()` wraps `open` (modes that write) and replaces `os` for the firmware with a
module whose rename, remove, mkdir and rmdir count too; reads are not counted.
"""
import builtins
import os
import sys

import machine
import vlink

_BLOCK = 4096
_BLANK = b"\xff" * _BLOCK


def _report(what):
    machine._send(vlink.FLASH, what, machine._contacts())


class Partition:
    def __init__(self, path, blocks=64):
        self.n = blocks
        try:
            size = os.stat(path)[6]
        except OSError:
            size = 0
        if size != blocks * _BLOCK:
            with _open(path, "wb") as f:  # a new chip: erased
                for _ in range(blocks):
                    f.write(_BLANK)
        self.f = _open(path, "r+b")
        self._old = bytearray(256)

    def readblocks(self, n, buf, off=0):
        self.f.seek(n * _BLOCK + off)
        self.f.readinto(buf)

    def writeblocks(self, n, buf, off=None):
        if off is None:
            for k in range(len(buf) // _BLOCK):
                self.ioctl(6, n + k)
            off = 0
        pos = n * _BLOCK + off
        old = self._old if len(buf) == len(self._old) else bytearray(len(buf))
        self.f.seek(pos)
        self.f.readinto(old)
        bad = False
        for i in range(len(buf)):
            if buf[i] != 0xFF and old[i] != 0xFF:  # 0xFF programs nothing
                bad = True
            old[i] &= buf[i]
        self.f.seek(pos)
        self.f.write(old)
        self.f.flush()
        _report(vlink.FLASH_OVERWRITE if bad else vlink.FLASH_PROGRAM)

    def ioctl(self, op, arg):
        if op == 4:
            return self.n
        if op == 5:
            return _BLOCK
        if op == 6:
            self.f.seek(arg * _BLOCK)
            self.f.write(_BLANK)
            self.f.flush()
            _report(vlink.FLASH_ERASE)
            return 0
        return 0


_open = builtins.open


def _counted_open(path, mode="r", *args, **kw):
    if "w" in mode or "a" in mode or "+" in mode:
        _report(vlink.FLASH_FILE)
    return _open(path, mode, *args, **kw)


def install():
    """Count the firmware's file system writes from now on."""
    import vos
    builtins.open = _counted_open
    vos.report = _report
    sys.modules["os"] = vos
