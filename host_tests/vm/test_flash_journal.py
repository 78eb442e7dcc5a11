"""The flash journal and the gate that holds file writes while the relay is closed, on
a NOR flash model (host_tests/vm/flash_units.py), in the MicroPython VM."""
from vmrun import run_vm_tests


def test_flash_journal_and_gate_in_the_vm():
    results, done, out = run_vm_tests(["host_tests/vm/flash_units.py"], heap="2m", timeout=120)
    assert done.get("host_tests/vm/flash_units.py") == 10, out
    failed = [r for r in results if not r.get("ok")]
    assert not failed, [(r["test"], r.get("error") or r) for r in failed]
