"""Tests leave nothing in build/ per run: a test's scripts, jobs and state go into its
tmp_path (or a temporary directory). build/ holds only what is shared and bounded: the
compiled firmware per source hash (buildcache.py keeps the newest few), the board lock
(conftest.py) and what the tools build there under fixed names."""
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = {"conftest.py", "buildcache.py"}  # the board lock, the per-hash build cache


def test_only_the_shared_helpers_write_into_build():
    into_build = re.compile(r"""join\(\s*ROOT\s*,\s*["']build["']""")
    found = []
    for d, dirs, files in os.walk(os.path.join(ROOT, "host_tests")):
        dirs[:] = [x for x in dirs if x != "__pycache__"]
        for name in files:
            if name.endswith(".py") and name not in SHARED:
                with open(os.path.join(d, name)) as f:
                    if into_build.search(f.read()):
                        found.append(os.path.relpath(os.path.join(d, name), ROOT))
    assert not found, "write into tmp_path, not build/: %s" % found
