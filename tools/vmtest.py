"""Run pytest-style test modules inside the MicroPython VM; one JSON line per test.

    micropython tools/vmtest.py host_tests/core/test_duty.py [...]

Supports plain `test_*` functions, `pytest.raises` and `pytest.mark.parametrize` (from
host_tests/shim/vm/pytest.py). The host side is host_tests/core/test_core_in_vm.py.
"""
import json
import sys
import time


def _run(fn, args):
    t0 = time.ticks_ms()
    try:
        fn(*args)
        return True, "", time.ticks_diff(time.ticks_ms(), t0)
    except Exception as e:  # noqa: BLE001
        import io
        buf = io.StringIO()
        sys.print_exception(e, buf)
        return False, buf.getvalue(), time.ticks_diff(time.ticks_ms(), t0)


def run_file(path):
    import pytest  # the VM shim: parameter sets of decorated tests
    d, _, name = path.rpartition("/")
    if d not in sys.path:
        sys.path.insert(0, d)
    mod = __import__(name[:-3])
    found = 0
    for attr in sorted(dir(mod)):
        fn = getattr(mod, attr)
        if not attr.startswith("test_") or not callable(fn):
            continue
        params = pytest.PARAMS.get(fn)
        cases = [((), "")] if params is None else [
            (p if isinstance(p, tuple) else (p,), "[%d]" % i) for i, p in enumerate(params)]
        for args, suffix in cases:
            found += 1
            ok, err, ms = _run(fn, args)
            print(json.dumps({"file": path, "test": attr + suffix, "ok": ok, "error": err,
                              "ms": ms}))
    print(json.dumps({"file": path, "done": found}))


for p in sys.argv[1:]:
    run_file(p)
