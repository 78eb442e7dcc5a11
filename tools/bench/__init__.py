"""The benchmark: figures of the firmware's speed and memory in the MicroPython VM on
the virtual board (run `python3 tools/bench --help`). `__main__.py` holds the figures
and the command line; `vm/` the scripts it runs inside the VM, real files linted and
compiled like the firmware (host_tests/tooling/test_tools.py)."""
