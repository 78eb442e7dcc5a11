"""Tests per file, as pytest collects them (the same selection as `tools/dev.py test`).

    python tools/testcounts.py > after.txt          # "<count> <path>" lines and a total
    python tools/testcounts.py --before before.txt  # beside an earlier list: files are
                                                    # matched by name, so moves show
Set WALLBOX_FULL=1 to count the full tier.
"""
import argparse
import collections
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def counts():
    """{test file path: number of tests} for host_tests/."""
    proc = subprocess.run([sys.executable, "-m", "pytest", "host_tests", "--collect-only", "-q",
                           "-p", "no:xdist"], cwd=ROOT, capture_output=True, text=True)
    ids = [line for line in proc.stdout.splitlines() if "::" in line]
    if proc.returncode != 0 or not ids:
        sys.exit("collection failed:\n" + proc.stdout[-3000:] + proc.stderr[-3000:])
    return collections.Counter(line.split("::", 1)[0] for line in ids)


def read(path):
    with open(path) as f:
        return {p: int(n) for n, p in (line.split() for line in f if line.strip()[:1].isdigit())}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", help="an earlier output of this script")
    args = ap.parse_args(argv)
    now = counts()
    if not args.before:
        for path in sorted(now):
            print("%d %s" % (now[path], path))
        print("total %d in %d files" % (sum(now.values()), len(now)))
        return 0
    before = {os.path.basename(p): (p, n) for p, n in read(args.before).items()}
    after = {os.path.basename(p): (p, n) for p, n in now.items()}
    print("%6s %6s  %s" % ("before", "after", "file (now)"))
    for name in sorted(set(before) | set(after), key=lambda n: (after.get(n) or before[n])[0]):
        b, a = before.get(name, ("", 0)), after.get(name, ("", 0))
        print("%6s %6s  %s%s" % (b[1] or "-", a[1] or "-", a[0] or b[0] + " (gone)",
                                 "  (was %s)" % b[0] if a[0] and b[0] and a[0] != b[0] else ""))
    print("%6d %6d  total" % (sum(n for _, n in before.values()),
                              sum(n for _, n in after.values())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
