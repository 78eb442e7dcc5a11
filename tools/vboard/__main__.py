"""Run the firmware in the MicroPython VM on the virtual board, with its panel.

    python -m tools.vboard [--port 8800] [--web-port 8080] [--state DIR] [--heap 640k]
                           [--source] [--quiet] [--vm PATH]

The firmware runs compiled to .mpy files, as on a board (built into a temporary folder
at each start). The first start provisions the board (serial number, hotspot and
recovery passwords in prov.json, as tools/provision.py does for a real board).
VBOARD_STATE in the environment names the state folder when --state is not given.
"""
import argparse
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time

from tools import provision
from tools.vboard.server import serve
from tools.vboard.world import ROOT, World, read_flash

# The heap of a Raspberry Pi Pico 2 W (docs/hardware.md, "RAM"): about 420 KB on its 32
# bits, about 590 KB in this 64-bit VM, plus the virtual board's own share (~48 KB).
# tools/bench's run_default_heap_margin_kb measures the headroom over what the
# firmware needs with everything on (target: at least 25 % of this).
RUN_HEAP = "640k"


def demo_identity(state):
    """The board's provisioning: made and saved on its first start (the label is
    printed once, as for a real board), read from prov.json afterwards."""
    try:
        p = read_flash(state, "prov.json")
    except ValueError as e:
        sys.exit("virtual board: %s is corrupt (%s): delete it to provision again"
                 % (os.path.join(state, "prov.json"), e))
    if not p or not p.get("serial"):
        p = provision.provisioning("VB%010d" % secrets.randbelow(10 ** 10), "virtual")
        provision.save_state(state, p, force=True)
        print(provision.label(p), flush=True)
    return p


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m tools.vboard", description=__doc__)
    ap.add_argument("--port", type=int, default=8800, help="panel and API port (127.0.0.1)")
    ap.add_argument("--state", default=os.environ.get("VBOARD_STATE") or
                    os.path.join(ROOT, "vboard-state"),
                    help="the board's flash: config and data files live here "
                         "(default: $VBOARD_STATE, else vboard-state/)")
    ap.add_argument("--heap", default=RUN_HEAP, help="MicroPython heap size (default "
                    "%s, a Pico 2 W's: docs/hardware.md), e.g. 256k" % RUN_HEAP)
    ap.add_argument("--source", action="store_true",
                    help="run the firmware from its source files (the VM compiles them: "
                         "more heap, slower start)")
    ap.add_argument("--quiet", action="store_true", help="do not echo the VM console")
    ap.add_argument("--web-port", type=int, default=8080,
                    help="the firmware's web interface and local API (127.0.0.1)")
    ap.add_argument("--vm", help="the MicroPython binary to run, e.g. the 32-bit image with "
                    "the firmware frozen in (docs/hardware.md)")
    args = ap.parse_args(argv)
    # SIGTERM ends the board like Ctrl-C: the VM goes with it (else it holds the ports)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    os.makedirs(args.state, exist_ok=True)
    prov = demo_identity(args.state)
    built = None
    world = httpd = None
    try:
        kw = {}
        if not args.source:
            from tools.build import build, build_vm
            built = tempfile.mkdtemp(prefix="vboard-build-")
            build(os.path.join(built, "board"))
            build_vm(os.path.join(built, "vm"))
            kw = {"code_root": os.path.join(built, "board"), "vm_dir": os.path.join(built, "vm")}
        world = World(args.state, heap=args.heap, echo=not args.quiet,
                      web_port=args.web_port, vm=args.vm, **kw)
        try:
            httpd = serve(world, args.port)
        except OSError as e:
            sys.exit("virtual board: cannot serve the panel on port %d (%s): is another "
                     "board running? Choose another with --port" % (args.port, e.strerror))
        world.start()
        print("virtual board: panel at http://127.0.0.1:%d/  (Ctrl-C to stop)" % args.port,
              flush=True)
        print("the charger's web interface: %s/  first login: user admin, password %s "
              "(the serial number)" % (world.web_url, prov["serial"]), flush=True)
        while world.running:
            time.sleep(0.5)
        if any("MemoryError" in line for line in world.console):
            print("virtual board: the firmware ran out of memory: give it more with --heap "
                  "(default %s)" % RUN_HEAP, flush=True)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        if httpd is not None:
            httpd.shutdown()
        if world is not None:
            world.stop()
        if built:
            shutil.rmtree(built, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
