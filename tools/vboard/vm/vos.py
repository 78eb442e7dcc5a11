"""`os` for the firmware on the virtual board: the VM's own, with the calls that change
the file system counted (vflash.install). The built-in module cannot be extended."""
from os import *  # noqa: F401,F403

import os as _os

import vlink

report = None  # vflash._report


def rename(a, b):
    report(vlink.FLASH_FILE)
    _os.rename(a, b)


def remove(p):
    report(vlink.FLASH_FILE)
    _os.remove(p)


def mkdir(p):
    report(vlink.FLASH_FILE)
    _os.mkdir(p)


def rmdir(p):
    report(vlink.FLASH_FILE)
    _os.rmdir(p)
