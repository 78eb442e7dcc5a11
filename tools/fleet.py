#!/usr/bin/env python3
"""Run a fleet of virtual boards against one OCPP 1.6J central system and check each
board's transactions.

    python tools/fleet.py [--boards 10] [--sessions 1]
    python tools/fleet.py --url ws://csms.example:8180/steve/websocket/CentralSystemService \\
                          --prefix VB --boards 10

Without --url the test central system (tools/vboard/csms.py, the `ocpp` package with
schema validation) is started on 127.0.0.1 and every board's StartTransaction and
StopTransaction are checked there: one transaction per session, the central system's
transactionId in the stop, meterStop above meterStart, nothing refused. With --url the
boards connect to an existing central system (its charge point ids PREFIX001.. must be
registered there, see docs/ocpp.md); the check is then on the boards: each session
started and stopped and every queued transaction message delivered (the queue on the
board's flash is empty).

Each board is the unchanged firmware (compiled .mpy, as on a board) in its own
MicroPython VM with its own simulated world and flash directory. The firmware is the
build the tests share (build/test-cache/<hash of the sources>/board,
host_tests/buildcache.py): compiled once per version of the sources, not per run.
"""
import argparse
import json
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from tools.vboard.world import World  # noqa: E402


def charging(w):
    return w.status() == "Charging" and w.relay_closed()


def _logged(w, text):
    return any(text in line for line in list(w.console))


def shared_build():
    """The compiled firmware the tests use (built now if the sources changed)."""
    sys.path.insert(0, os.path.join(ROOT, "host_tests"))
    from buildcache import cached_build
    return cached_build()


def start_boards(n, url, code_root, prefix="VB", tmp=None, heap="320k", extra=None):
    """n running worlds with the compiled firmware at `code_root` (shared_build()),
    configured for the backend at `url`; returns [(id, world)]."""
    tmp = tmp or tempfile.mkdtemp(prefix="fleet-")
    boards = []
    for i in range(n):
        cp = "%s%03d" % (prefix, i + 1)
        state = os.path.join(tmp, cp)
        os.makedirs(state, exist_ok=True)
        cfg = {"charging.selftest_s": 1, "charging.retry_delay_s": 1,
               "backend.enabled": True, "backend.url": url, "backend.charge_point_id": cp,
               "backend.retry_max_s": 10, "backend.schedule_wait_s": 0}
        cfg.update(extra or {})
        with open(os.path.join(state, "config.json"), "w") as f:
            json.dump(cfg, f)
        # a slower physics thread: ten worlds share one CPython process
        w = World(state, heap=heap, code_root=code_root, tick_s=0.02)
        boards.append((cp, w.start()))
    return boards


def run_sessions(boards, sessions=1, charge_s=5.0, timeout=90.0):
    """Every board: plug in, charge, unplug; `sessions` times. Raises on a board that
    does not get there."""
    for n in range(sessions):
        for cp, w in boards:
            w.wait_for(lambda w: w.status() == "Idle", timeout)
            w.set(plugged=True)
        for cp, w in boards:
            w.wait_for(charging, timeout)
            w.wait_for(lambda w: _logged(w, "transaction %d started" % (n + 1)), timeout)
        time.sleep(charge_s)
        for cp, w in boards:
            w.set(plugged=False)
        for cp, w in boards:
            w.wait_for(lambda w: not w.relay_closed(), timeout)
        time.sleep(1)


def check_on_central_system(cs, boards, sessions=1, timeout=90.0):
    """{id: problem} for boards whose transactions did not arrive as they should."""
    problems = {}
    for cp, w in boards:
        try:
            cs.wait_for(lambda cs: len(cs.calls(cp, "StopTransaction")) >= sessions, timeout)
        except TimeoutError:
            problems[cp] = "stops missing: %d of %d" % (len(cs.calls(cp, "StopTransaction")),
                                                        sessions)
            continue
        starts = cs.calls(cp, "StartTransaction")
        stops = cs.calls(cp, "StopTransaction")
        ids = [m[2]["transactionId"] for m in cs.messages(cp, "out")
               if m[0] == 3 and isinstance(m[2], dict) and "transactionId" in m[2]]
        if len(starts) != sessions or len(stops) != sessions:
            problems[cp] = "%d starts and %d stops for %d sessions" % (len(starts), len(stops),
                                                                        sessions)
        elif [s["transactionId"] for s in stops] != ids:
            problems[cp] = "stops %r for transactions %r" % (
                [s["transactionId"] for s in stops], ids)
        elif not all(b["meterStop"] > a["meterStart"] for a, b in zip(starts, stops)):
            problems[cp] = "meterStop not above meterStart: %r" % (
                [(a["meterStart"], b["meterStop"]) for a, b in zip(starts, stops)])
            print("\n".join(list(w.console)[-60:]))
        elif cs.errors(cp):
            problems[cp] = "refused by the central system: %r" % cs.errors(cp)[:2]
    return problems


def check_on_boards(boards, sessions=1, timeout=90.0):
    """For an external central system: the boards' own record."""
    problems = {}
    deadline = time.monotonic() + timeout
    for cp, w in boards:
        queue = os.path.join(w.state_dir, "txq", "queue")
        while time.monotonic() < deadline and (
                os.path.exists(queue) or not _logged(w, "transaction %d stopped" % sessions)):
            time.sleep(0.5)
        if not _logged(w, "transaction %d stopped" % sessions):
            problems[cp] = "session %d did not stop" % sessions
        elif os.path.exists(queue):
            problems[cp] = "transaction messages still queued on the board"
    return problems


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--boards", type=int, default=10)
    ap.add_argument("--sessions", type=int, default=1)
    ap.add_argument("--url", help="an existing central system's endpoint (ws:// or wss://)")
    ap.add_argument("--prefix", default="VB", help="charge point ids PREFIX001, PREFIX002, ...")
    ap.add_argument("--key", default="", help="Basic auth password of every board")
    args = ap.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="fleet-")
    code_root = shared_build()
    cs = None
    url = args.url
    if url is None:
        from tools.vboard.csms import CentralSystem
        cs = CentralSystem().start()
        url = cs.url()
    extra = {"backend.key": args.key} if args.key else None
    t0 = time.monotonic()
    boards = start_boards(args.boards, url, code_root, args.prefix, tmp, extra=extra)
    try:
        run_sessions(boards, args.sessions)
        problems = check_on_central_system(cs, boards, args.sessions) if cs else \
            check_on_boards(boards, args.sessions)
    finally:
        for _, w in boards:
            w.stop()
        if cs is not None:
            cs.stop()
    for cp, _ in boards:
        print("%s  %s" % (cp, problems.get(cp, "ok")))
    print("%d boards, %d sessions each, %d with problems, %.0f s" % (
        len(boards), args.sessions, len(problems), time.monotonic() - t0))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
