"""The benchmark: figures of the firmware's speed and memory in the MicroPython VM on
the virtual board (run `python3 tools/bench --help`). `__main__.py` holds the figures
and the command line; `vm/` the scripts it runs inside the VM, real files linted and
compiled like the firmware (host_tests/tooling/test_tools.py)."""
import os
import shutil

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def flash_root(tmp):
    """boot.py and main.py alone, in a folder under `tmp`: what goes on a board's flash
    next to an image with the firmware frozen in (the 32-bit VM's figures)."""
    root = os.path.join(tmp, "flash-root")
    if not os.path.isdir(root):
        os.makedirs(root)
        for name in ("boot.py", "main.py"):
            shutil.copy(os.path.join(_ROOT, name), root)
    return root


def frozen_vm(figure):
    """The 32-bit VM with the firmware frozen in, for the figure `figure` (heap32,
    latency32, http_status32): (its path, {}), or (None, {figure + "_skipped": why})
    without one, or (None, {figure + "_stale": why}) when it was built from other
    firmware sources than the current ones (tools/frozen_sources.py): nothing measured."""
    from tools.vboard.world import frozen_vm_state
    exe, kind, why = frozen_vm_state()
    return (exe, {}) if exe else (None, {"%s_%s" % (figure, kind): why})
