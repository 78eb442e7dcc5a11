"""What every part of the world shares: the link's record format and constants
(vm/vlink.py, the same module the VM side uses) and the virtual board's pin map, made
importable from CPython."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
VMDIR = os.path.join(HERE, "vm")
sys.path.insert(0, VMDIR)
sys.path.insert(0, os.path.join(ROOT, "host_tests", "shim"))
import vlink  # noqa: E402, F401 - re-exported

sys.path.insert(0, ROOT)
from firmware.boards import virtual as board  # noqa: E402, F401 - re-exported

