"""Every pure-logic test module also runs inside the MicroPython VM."""
import glob
import os

import pytest
from vmrun import ROOT, run_vm_tests

FILES = sorted(os.path.relpath(p, ROOT) for p in
               glob.glob(os.path.join(ROOT, "host_tests", "core", "test_*.py"))
               if os.path.basename(p) != "test_core_in_vm.py")  # this file: CPython only


@pytest.mark.parametrize("path", FILES, ids=[os.path.basename(f) for f in FILES])
def test_module_passes_in_micropython(path):
    results, done, output = run_vm_tests([path])
    assert done.get(path, 0) > 0, "no test ran in the VM:\n" + output[-3000:]
    assert len(results) == done[path]
    failed = [r for r in results if not r["ok"]]
    assert not failed, "\n\n".join("%s::%s\n%s" % (r["file"], r["test"], r["error"])
                                   for r in failed)
