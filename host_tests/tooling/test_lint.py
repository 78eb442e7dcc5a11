"""The linter (ruff, configured in ruff.toml): pyflakes and pycodestyle errors, none
allowed."""
import os
import subprocess
import sys

from vmrun import ROOT


def test_ruff_finds_nothing():
    exe = os.path.join(os.path.dirname(sys.executable), "ruff")
    out = subprocess.run([exe, "check", "--no-cache", "--output-format", "concise", ROOT],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
