"""`os` for the firmware on the virtual board: the VM's own, with the calls that change
the file system counted (vflash.install). The built-in module cannot be extended."""
from os import *  # noqa: F401,F403

import os as _os

import vlink

report = None  # vflash._report


def rename(a, b):
    _os.rename(a, b)
    report(vlink.FLASH_FILE)  # done: one that fails writes nothing


def remove(p):
    _os.remove(p)
    report(vlink.FLASH_FILE)  # done: one that fails writes nothing


def mkdir(p):
    _os.mkdir(p)
    report(vlink.FLASH_FILE)  # done: one that fails writes nothing


def rmdir(p):
    _os.rmdir(p)
    report(vlink.FLASH_FILE)  # done: one that fails writes nothing
