"""Run the firmware in the MicroPython VM on the virtual board, with its panel.

    python -m tools.vboard [--port 8800] [--web-port 8080] [--state DIR] [--heap 256k] [--build]
                         [--vm PATH]
"""
import argparse
import os
import sys
import time

from tools.vboard.server import serve
from tools.vboard.world import ROOT, World


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m tools.vboard", description=__doc__)
    ap.add_argument("--port", type=int, default=8800, help="panel and API port (127.0.0.1)")
    ap.add_argument("--state", default=os.path.join(ROOT, "vboard-state"),
                    help="the board's flash: config and data files live here")
    ap.add_argument("--heap", default="256k", help="MicroPython heap size, e.g. 96k")
    ap.add_argument("--build", action="store_true",
                    help="build and run the compiled .mpy files, as on a board")
    ap.add_argument("--quiet", action="store_true", help="do not echo the VM console")
    ap.add_argument("--web-port", type=int, default=8080,
                    help="the firmware's web interface and local API (127.0.0.1)")
    ap.add_argument("--vm", help="the MicroPython binary to run, e.g. the 32-bit image with "
                    "the firmware frozen in (docs/hardware.md)")
    args = ap.parse_args(argv)
    kw = {}
    if args.build:
        from tools.build import OUT, VM_OUT, build, build_vm
        build()
        build_vm()
        kw = {"code_root": OUT, "vm_dir": VM_OUT}
    world = World(args.state, heap=args.heap, echo=not args.quiet, web_port=args.web_port,
                  vm=args.vm, **kw).start()
    httpd = serve(world, args.port)
    print("virtual board: panel at http://127.0.0.1:%d/  (Ctrl-C to stop)" % args.port,
          flush=True)
    print("the charger's web interface: %s/  (first login: admin / the serial number)"
          % world.web_url, flush=True)
    try:
        while world.running:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        httpd.shutdown()
        world.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
