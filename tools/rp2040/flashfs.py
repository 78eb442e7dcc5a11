"""The Pico W's flash storage as an image: 848 KB of 4 KB blocks, a littlefs2 file system
on all but the last 128 KB (as the image's frozen _boot.py mounts it, tools/frozen/rp2)
and those erased (the flash journal). Made with MicroPython's own VfsLfs2; run with the
MicroPython VM: micropython tools/rp2040/flashfs.py REPO OUT.img

It holds boot.py, a config.json (hotspot off, short self-test) and the firmware's
directories. main.py is left out: the harness starts the app from the REPL, with a
reporting task (session.mjs)."""
import os
import sys

import vfs

_BLOCK = 4096
_BYTES = 868352  # MICROPY_HW_FLASH_STORAGE_BYTES of RPI_PICO_W
_JOURNAL_BYTES = 131072  # _boot.py's JOURNAL_BYTES


class RAMBlocks:
    def __init__(self, count):
        self.data = bytearray(b"\xff" * (count * _BLOCK))
        self.count = count

    def readblocks(self, block, buf, offset=0):
        start = block * _BLOCK + offset
        buf[:] = self.data[start:start + len(buf)]

    def writeblocks(self, block, buf, offset=0):
        start = block * _BLOCK + offset
        self.data[start:start + len(buf)] = buf

    def ioctl(self, op, arg):
        if op == 4:  # block count
            return self.count
        if op == 5:  # block size
            return _BLOCK
        if op == 6:  # erase
            self.data[arg * _BLOCK:(arg + 1) * _BLOCK] = b"\xff" * _BLOCK
        return 0


def main(repo, out):
    blocks = RAMBlocks((_BYTES - _JOURNAL_BYTES) // _BLOCK)
    vfs.VfsLfs2.mkfs(blocks, progsize=256)
    vfs.mount(vfs.VfsLfs2(blocks, progsize=256), "/fs")
    with open(repo + "/boot.py") as f, open("/fs/boot.py", "w") as g:
        g.write(f.read())
    with open("/fs/config.json", "w") as g:
        g.write('{"net.hotspot": false, "charging.selftest_s": 1, "charging.retry_delay_s": 1}')
    for d in ("log", "txq"):
        os.mkdir("/fs/" + d)
    vfs.umount("/fs")
    with open(out, "wb") as f:
        f.write(blocks.data)
        f.write(b"\xff" * _JOURNAL_BYTES)


main(sys.argv[1], sys.argv[2])
