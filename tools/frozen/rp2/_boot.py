# The Pico W image's boot, frozen in place of the rp2 port's own _boot.py
# (tools/manifest.py): the same littlefs mount, formatted on first boot, but on the flash
# storage less its last 128 KB, which hold the flash journal (firmware/boards/pico_w.py
# JOURNAL, docs/hardware.md "Flash journal partition"). A file system made by a stock
# image covers the whole storage: littlefs refuses it (block count), so it is formatted.
import vfs
import rp2

JOURNAL_BYTES = 131072

storage = rp2.Flash()
bdev = rp2.Flash(len=storage.ioctl(4, 0) * storage.ioctl(5, 0) - JOURNAL_BYTES)
try:
    fs = vfs.VfsLfs2(bdev, progsize=256)  # the flash programs 256-byte pages
except:  # noqa: E722 - as the port's: any failure to mount means format
    vfs.VfsLfs2.mkfs(bdev, progsize=256)
    fs = vfs.VfsLfs2(bdev, progsize=256)
vfs.mount(fs, "/")

del vfs, rp2, storage, bdev, fs
