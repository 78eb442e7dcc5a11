"""`python -m tools.vboard` as a process: its first start provisions the board and prints
the first login; SIGTERM (or the world killed outright) ends the MicroPython VM too, so
that nothing keeps holding the web port."""
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import pytest
from vmrun import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))



def children(pid):
    out = []
    for task in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/children" % (pid, task)) as f:
            out += [int(x) for x in f.read().split()]
    return out


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(what)
        time.sleep(0.2)


def answers(port):
    try:
        urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=2).read()
        return True
    except OSError:
        return False


def start(state):
    panel, web = free_port(), free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tools.vboard", "--port", str(panel),
                             "--web-port", str(web), "--state", str(state)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
    wait(lambda: answers(web), 90, "the web interface did not answer:\n" + "".join(lines))
    vm = [p for p in children(proc.pid) if alive(p)]
    assert len(vm) == 1, vm
    return proc, vm[0], web, lines


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_the_vm_ends_with_the_virtual_board(tmp_path, sig):
    proc, vm, web, lines = start(tmp_path / "state")
    try:
        text = "".join(lines)
        serial = json.loads((tmp_path / "state" / "prov.json").read_text()[25:-2])["serial"]
        assert re.match(r"VB\d{10}$", serial)
        assert "first login: user admin, password %s" % serial in text
        assert "CONFIGURATION LABEL" in text
        os.kill(proc.pid, sig)
        proc.wait(20)
        wait(lambda: not alive(vm), 20, "the VM outlived its world")
        assert not answers(web)
    finally:
        if proc.poll() is None:
            proc.kill()
        if alive(vm):
            os.kill(vm, signal.SIGKILL)


def test_a_second_start_keeps_the_identity(tmp_path):
    proc, vm, _, lines = start(tmp_path / "state")
    proc.terminate()
    proc.wait(20)
    first = (tmp_path / "state" / "prov.json").read_text()
    proc, vm, _, lines = start(tmp_path / "state")
    try:
        assert (tmp_path / "state" / "prov.json").read_text() == first
        assert "CONFIGURATION LABEL" not in "".join(lines)
        assert "first login: user admin, password VB" in "".join(lines)
    finally:
        proc.terminate()
        proc.wait(20)
