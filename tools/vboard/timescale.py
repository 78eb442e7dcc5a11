"""A time-scaled copy of the firmware, for tests that would otherwise wait minutes for
one of the firmware's long timeouts.

Only the durations listed in LONG are divided by the scale; everything else, above all
the 5 ms control tick, the pilot burst, debouncing and the reaction times, runs as on a
board, so the physics stays real. (Scaling the VM's whole clock would also scale the
control tick and the pilot burst: N times the CPU load on a machine that is already
busy, and a different board.) A constant listed here that is no longer in its file
fails the copy, so a renamed one cannot silently run unscaled.

    from tools.vboard.timescale import scaled_tree
    root = scaled_tree("/tmp/fw10", 10)   # then World(..., code_root=root)

or, for the firmware compiled as on a board (tools/build.py's output, with its web pages
and libraries), `scaled_build(board_dir, "/tmp/board10", 10)`.
"""
import os
import re
import shutil
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TEST_SCALE = 10  # the tests' scale (host_tests/vm/conftest.py, start_board(scaled=True))

# file: the private const() durations in it that a scaled board shortens
LONG = {
    "firmware/core/auth.py": ("_WINDOW_MS", "_ENROL_MS"),
    "firmware/services/platform/datalog.py": ("_FLUSH_MS",),  # an info entry's write: 30 s
}


def scale_source(text, names, scale):
    """`text` with each `NAME = const(N)` of `names` as `NAME = const(N // scale)`."""
    for name in names:
        pattern = re.compile(r"^(%s = const\()(\d+)(\))" % re.escape(name), re.M)
        text, n = pattern.subn(lambda m: "%s%d%s" % (m.group(1), int(m.group(2)) // scale,
                                                     m.group(3)), text)
        if n != 1:
            raise ValueError("%s = const(<int>) not found once (found %d times)" % (name, n))
    return text


def scaled_tree(out, scale, src=ROOT):
    """Copy the firmware as the VM runs it from source (firmware/, boot.py, main.py)
    into `out` (recreated) with the LONG durations divided by `scale`; returns `out`."""
    if os.path.exists(out):
        shutil.rmtree(out)
    shutil.copytree(os.path.join(src, "firmware"), os.path.join(out, "firmware"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("boot.py", "main.py"):
        shutil.copy(os.path.join(src, name), os.path.join(out, name))
    for rel, names in LONG.items():
        path = os.path.join(out, rel)
        with open(path) as f:
            text = scale_source(f.read(), names, scale)
        with open(path, "w") as f:
            f.write(text)
    return out


def scaled_build(board, out, scale):
    """Copy the compiled firmware in `board` (tools/build.py's output) into `out`
    (recreated) with the LONG modules compiled again from scaled sources; returns `out`."""
    from tools import build
    if os.path.exists(out):
        shutil.rmtree(out)
    shutil.copytree(board, out)
    exe = build.mpy_cross()
    for rel, names in LONG.items():
        with open(os.path.join(ROOT, rel)) as f:
            text = scale_source(f.read(), names, scale)
        src = os.path.join(out, "scaled.py")
        with open(src, "w") as f:
            f.write(text)
        subprocess.run([exe, "-o", os.path.join(out, rel[:-3] + ".mpy"), "-s",
                        build.source_name(rel), src], check=True)
        os.remove(src)
    return out
