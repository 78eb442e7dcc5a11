"""Test set-up: the repository root and the CPython `micropython` shim on the path."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for p in (ROOT, os.path.join(ROOT, "host_tests", "shim"), os.path.join(ROOT, "host_tests", "core")):
    if p not in sys.path:
        sys.path.insert(0, p)
