"""Run the firmware from a ROMFS image (VBOARD_ROMFS=path), as a board with ROMFS or
frozen modules would: the .mpy bytecode executes in place instead of being copied into
the heap. The VM has no flash, so the image itself sits in the heap; the bench subtracts
its size."""
import os
import sys

import vfs

with open(os.getenv("VBOARD_ROMFS"), "rb") as f:
    vfs.mount(vfs.VfsRom(f.read()), "/rom")  # the mount holds the image
sys.path.insert(0, "/rom/lib")  # the web library too, as on a board's sys.path
sys.path.insert(0, "/rom")
import vboard_main  # noqa: E402,F401
