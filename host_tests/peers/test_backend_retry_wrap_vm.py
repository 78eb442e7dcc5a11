"""The backend's transaction-message retry timing across the tick wrap (issue 13.3), in
the MicroPython VM. The VM's own ms counter wraps at 2**62; a board's wraps at 2**30. A
`time` module of this test's own (the VM's `time` is extensible) gives the backend a
board's counter, 5 s before the wrap, that the test advances by hand, and refuses any
value that is no tick (a sum past 2**30 is a big int on a board, not a time)."""
import json
import os
import subprocess

from vmrun import ROOT, micropython

BOARD_TIME = r'''
from utime import *  # noqa: F401,F403 - the VM's own, with a board's ms counter over it
PERIOD = 1 << 30
_now = [PERIOD - 5000]


def ticks_ms():
    return _now[0]


def ticks_add(t, delta):
    return (t + delta) & (PERIOD - 1)


def ticks_diff(a, b):
    if not (0 <= a < PERIOD and 0 <= b < PERIOD):
        raise ValueError("not a tick value")
    return ((a - b + PERIOD // 2) & (PERIOD - 1)) - PERIOD // 2


def advance(ms):
    _now[0] = (_now[0] + ms) & (PERIOD - 1)
'''

SCRIPT = r'''
import json, time
from firmware.core.ocpp import CallError
from firmware.services.ocpp import backend as bk


class Queue:  # the transaction queue's head: one StartTransaction
    ids = {}

    def __init__(self):
        self.rec = [1, "StartTransaction", {"connectorId": 1, "idTag": "A1", "meterStart": 0,
                                           "timestamp": "2026-12-03T10:00:00Z"}]
        self.acked = False

    def head(self):
        return self.rec

    def ack(self, ltx, *args, **kw):
        self.acked = True
        self.rec = None


class Bare(bk.Backend):
    def __init__(self):  # only what _deliver uses, set below
        pass


b = Bare()
b.q = Queue()
b.keys = {"TransactionMessageAttempts": 3, "TransactionMessageRetryInterval": 60}
b._tries = 0
b._retry_at = time.ticks_ms()
b.tx = None
b.note = lambda kind, text: None
calls = []


async def call(action, payload):
    calls.append(time.ticks_ms())
    raise CallError("InternalError", "the central system failed")

b.call = call


def run(coro):
    """Run a coroutine that never suspends (asyncio's own clock is the VM's, not ours)."""
    try:
        coro.send(None)
    except StopIteration as e:
        return e.args[0] if e.args else None
    raise AssertionError("suspended")


out = []
for step in (0, 59999, 1, 119999, 1):
    time.advance(step)
    try:
        did = run(b._deliver())
    except ValueError as e:
        did = str(e)
    out.append([time.ticks_ms(), did, len(calls), b._retry_at, b.q.acked])
print(json.dumps(out))
'''


def test_transaction_retries_are_timed_right_across_the_wrap(tmp_path):
    (tmp_path / "time.py").write_text(BOARD_TIME)
    script = tmp_path / "retry.py"
    script.write_text(SCRIPT)
    env = dict(os.environ)
    env["MICROPYPATH"] = ":".join([str(tmp_path), os.path.join(ROOT, "host_tests", "shim", "vm"),
                                   ROOT, ".frozen"])
    proc = subprocess.run([micropython(), "-X", "heapsize=1m", str(script)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    lines = [x for x in proc.stdout.splitlines() if x.startswith("[")]
    assert lines, proc.stdout + proc.stderr
    period = 1 << 30
    start = period - 5000
    assert json.loads(lines[-1]) == [
        # now, did something, calls so far, next try at (a tick value), given up
        [start, True, 1, 55000, False],  # failed 5 s before the wrap: again in 60 s
        [54999, False, 1, 55000, False],  # across the wrap, 1 ms early: not yet
        [55000, True, 2, 175000, False],  # due: the second try fails, again in 120 s
        [174999, False, 2, 175000, False],
        [175000, True, 3, 175000, True],  # the third and last try: given up
    ]
