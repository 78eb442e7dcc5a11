#!/usr/bin/env python3
"""Heap cost of each firmware module in the MicroPython VM, as compiled .mpy files.

    python tools/memprofile.py [module ...]      # default: every firmware module
    python tools/memprofile.py --frozen [module ...]

`--frozen`: on the 32-bit VM with the firmware frozen in (tools.vboard.process.frozen_vm,
the shipped configuration), where only a module's run-time objects stay on the heap
(module and class dictionaries, function objects, what its top level builds); code and
names are in the image. It runs outside the repository, whose firmware/ sources would
otherwise be imported (and compiled into RAM) before the frozen ones.

For each module a fresh VM first imports everything the module imports (measured by a
first pass), collects garbage, then imports the module and reports what stayed on the
heap, with its new qstrs (interned names and strings) counted at their own size rather
than at the size of the doubling pool chunk that one of them happened to trigger.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from tools.build import OUT, VM_OUT, build, build_vm, firmware_modules  # noqa: E402
from tools.vboard.process import frozen_vm  # noqa: E402
from tools.vboard.world import find_micropython  # noqa: E402

PROBE = r"""
import gc, sys, json, micropython
import asyncio, machine
before = set(sys.modules)
__import__(%(mod)r)
deps = [m for m in sys.modules if m not in before and m != %(mod)r]
print(json.dumps(deps))
"""

MEASURE = r"""
import gc, sys, json, micropython
import asyncio, machine
for d in %(deps)r:
    __import__(d)
gc.collect()
micropython.qstr_info()
a = gc.mem_alloc()
__import__(%(mod)r)
gc.collect()
b = gc.mem_alloc()
micropython.qstr_info()
print(json.dumps({"bytes": b - a}))
"""
_Q = re.compile(r"n_qstr=(\d+), n_str_data_bytes=(\d+), n_total_bytes=(\d+)")


def run(script, frozen=None):
    """`frozen`: that VM's frozen modules instead of the .mpy files."""
    path = [".frozen", VM_OUT] if frozen else [VM_OUT, OUT, os.path.join(OUT, "lib"), ".frozen"]
    env = dict(os.environ, MICROPYPATH=":".join(path))
    env.pop("VBOARD_LINK", None)
    out = subprocess.run([frozen or find_micropython(), "-X", "heapsize=4m", "-c", script],
                         env=env, capture_output=True, text=True, timeout=60,
                         cwd=tempfile.gettempdir() if frozen else None)
    lines = [x for x in out.stdout.splitlines() if x.startswith(("[", "{"))]
    if out.returncode or not lines:
        raise RuntimeError(out.stdout + out.stderr)
    got = json.loads(lines[-1])
    q = [tuple(map(int, m)) for m in _Q.findall(out.stdout)]
    if len(q) == 2 and isinstance(got, dict):
        n, data, pool = (q[1][i] - q[0][i] for i in range(3))
        # the pool grows in doubling chunks: count each new qstr at its own share instead
        got.update(qstrs=n, smooth=got["bytes"] - pool + n * 11 + data)
    return got


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    vm = None
    if argv[:1] == ["--frozen"]:
        argv = argv[1:]
        vm, why = frozen_vm()
        if vm is None:
            print("no frozen VM: %s" % why)
            return 1
    build()
    build_vm()
    mods = argv or [m[:-3].replace("/", ".") for m in firmware_modules()
                    if not m.endswith("__init__.py") and "/boards/" not in m]
    total = 0
    rows = []
    for mod in mods:
        try:
            deps = run(PROBE % {"mod": mod}, vm)
            got = run(MEASURE % {"mod": mod, "deps": deps}, vm)
        except RuntimeError as e:
            print("%-36s failed: %s" % (mod, str(e).strip().splitlines()[-1]))
            continue
        size = os.path.getsize(os.path.join(OUT, mod.replace(".", "/") + ".mpy"))
        rows.append((got["smooth"], mod, size, got["qstrs"]))
        total += got["smooth"]
    print("%-36s %7s  %6s  %5s" % ("module", "heap B", ".mpy B", "qstrs"))
    for got, mod, size, nq in sorted(rows, reverse=True):
        print("%-36s %7d  %6d  %5d" % (mod, got, size, nq))
    print("%-36s %7d" % ("total (each alone, deps excluded)", total))
    return 0


if __name__ == "__main__":
    sys.exit(main())
