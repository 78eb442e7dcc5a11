"""The test tier, one switch for both runtimes: WALLBOX_FULL=1 in the environment runs
the long statistics in full (every safety-walk seed, every power-cut trial, the fleet of
ten boards); without it they run reduced counts, with the same per-run assertions.
host_tests/core is on the path in CPython and in the VM, so every tier reads this."""
import os

FULL = os.getenv("WALLBOX_FULL") == "1"


def count(default, full):
    """`full` in the full tier, else `default`."""
    return full if FULL else default
