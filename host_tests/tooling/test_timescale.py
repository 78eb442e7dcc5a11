"""The virtual board's time scale (tools/vboard/timescale.py): only the listed durations
change, in the source and in the compiled firmware, and a listed name that is gone fails."""
import os
import subprocess

import pytest
from vmrun import micropython

from tools.vboard import timescale


def test_only_the_listed_constants_are_divided():
    text = "_A_MS = const(60000)  # why\n_B_MS = const(60000)\n"
    assert timescale.scale_source(text, ("_A_MS",), 10) == \
        "_A_MS = const(6000)  # why\n_B_MS = const(60000)\n"


def test_a_listed_constant_that_is_gone_fails_the_copy():
    with pytest.raises(ValueError, match="_GONE_MS"):
        timescale.scale_source("_A_MS = const(1)\n", ("_GONE_MS",), 10)


PROBE = """
import asyncio, os, time
from firmware.services.platform.log import Log
from firmware.services.platform.datalog import DataLog
log = Log(echo=False)
dl = DataLog(log, path="probe_log")
t0 = time.ticks_ms()
log.add("info", "an info entry")
async def main():
    asyncio.create_task(dl.run(period_ms=50))
    while not dl._segs() or not os.stat("probe_log/0")[6]:
        await asyncio.sleep_ms(50)
    print("written after", time.ticks_diff(time.ticks_ms(), t0))
asyncio.run(main())
"""


def test_the_compiled_copy_runs_the_scaled_durations(tmp_path):
    """The data log's info entry, written after 30 s on a board, after 3 s in the copy;
    every module that is not listed stays as built."""
    from buildcache import cached_build
    board = cached_build()
    out = timescale.scaled_build(board, str(tmp_path / "board10"), 10)
    (tmp_path / "probe.py").write_text(PROBE)
    env = dict(os.environ, MICROPYPATH=out + ":.frozen")
    proc = subprocess.run([micropython(), str(tmp_path / "probe.py")], cwd=str(tmp_path),
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.stdout.startswith("written after"), proc.stdout + proc.stderr
    assert 3000 <= int(proc.stdout.split()[-1]) < 30000
    for d, _, files in os.walk(board):
        for name in files:
            rel = os.path.relpath(os.path.join(d, name), board)
            with open(os.path.join(board, rel), "rb") as a:
                with open(os.path.join(out, rel), "rb") as b:
                    same = a.read() == b.read()
            assert same == (rel[:-4] + ".py" not in timescale.LONG), rel
