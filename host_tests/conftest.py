"""Test set-up: the repository root and the CPython `micropython` shim on the path, and
what parallel workers (pytest-xdist, `python3 tools/dev.py test`) need to share."""
import fcntl
import os
import sys

import pytest
from hypothesis import settings

# Tests do not time: hypothesis's default 200 ms per example is a timing assertion that a
# busy host fails now and then ("Unreliable test timings"), whatever the property says.
settings.register_profile("untimed", deadline=None)
settings.load_profile("untimed")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST_TESTS = os.path.join(ROOT, "host_tests")
# host_tests itself for the shared helpers (vmrun, buildcache) of every tier's folder
for p in (ROOT, HOST_TESTS, os.path.join(HOST_TESTS, "shim"), os.path.join(HOST_TESTS, "core")):
    if p not in sys.path:
        sys.path.insert(0, p)


@pytest.fixture
def shared_build_dir():
    """For tests that build into the shared build/board and build/romfs: one at a time,
    across parallel test workers (pytest-xdist) and test runs."""
    os.makedirs(os.path.join(ROOT, "build"), exist_ok=True)
    with open(os.path.join(ROOT, "build", "board.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        yield
