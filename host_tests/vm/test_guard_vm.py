"""The relay's keep-alive and the hard-IRQ guard (drivers/contactor.py) in the VM on the
inert virtual board: the wiring of the rule, hard where the port allows, and nothing
allocated in the paths that run in the tick or in interrupt context."""
import json
import os
import subprocess

from vmrun import ROOT, micropython

SCRIPT = r"""
import gc, json, time
import machine
from machine import Pin
from firmware.boards import virtual as b
from firmware.drivers.contactor import Guard, Relay

coil = Pin(b.RELAY, Pin.OUT, value=0)
keepalive = Pin(b.RELAY_KEEPALIVE, Pin.OUT, value=0)
comparator = Pin(b.CP_COMPARATOR, Pin.IN)
relay = Relay(coil, None, True, keepalive)
guard = Guard(relay, comparator, b.KEEPALIVE_MS, -1)
out = {}
guard.start()
out["hard"] = guard.hard

def closed_and_pulsed():
    relay.set(True)
    relay.pulse(time.ticks_ms())

# the keep-alive toggles only while the relay is closed
relay.pulse(time.ticks_ms())
out["pulse_while_open"] = keepalive.value()
closed_and_pulsed()
k1 = keepalive.value()
relay.pulse(time.ticks_ms())
out["toggles"] = [k1, keepalive.value()]

# a running tick and the pilot in C: the guard leaves the relay closed
machine._in[b.CP_COMPARATOR] = 0
guard._check(None)
out["c_running"] = [relay.closed, coil.value()]

# the vehicle left C/D: the comparator is high
machine._in[b.CP_COMPARATOR] = 1
guard._check(comparator)
out["left_c"] = [relay.closed, coil.value()]
machine._in[b.CP_COMPARATOR] = 0

# the tick stopped: the last pulse older than the drop-out time
closed_and_pulsed()
relay.pulsed_at = time.ticks_add(time.ticks_ms(), -(b.KEEPALIVE_MS + 5))
guard._check(None)
out["stalled"] = [relay.closed, coil.value()]

def alloc(f, n=500):
    gc.collect()
    a = gc.mem_alloc()
    for _ in range(n):
        f()
    return gc.mem_alloc() - a

closed_and_pulsed()
now = time.ticks_ms()
out["pulse_bytes"] = alloc(lambda: relay.pulse(now))
out["check_bytes"] = alloc(lambda: guard._check(None))
guard.stop()
out["stopped_hard"] = guard.hard
print(json.dumps(out))
"""


def run(tmp_path, **env):
    path = tmp_path / "guard_script.py"
    path.write_text(SCRIPT)
    e = dict(os.environ, MICROPYPATH=":".join([os.path.join(ROOT, "tools", "vboard", "vm"),
                                               ROOT, ".frozen"]), **env)
    e.pop("VBOARD_LINK", None)
    proc = subprocess.run([micropython(), "-X", "heapsize=512k", str(path)], env=e,
                          cwd=str(tmp_path), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_keepalive_and_guard_rules_are_wired(tmp_path):
    out = run(tmp_path)
    assert out["hard"] is True
    assert out["pulse_while_open"] == 0
    assert sorted(out["toggles"]) == [0, 1]
    assert out["c_running"] == [True, 1]
    assert out["left_c"] == [False, 0]
    assert out["stalled"] == [False, 0]
    assert out["stopped_hard"] is False


def test_pulse_and_guard_check_allocate_nothing(tmp_path):
    # the pulse runs in every tick, the check in hard interrupt context
    out = run(tmp_path)
    assert out["pulse_bytes"] == 0
    assert out["check_bytes"] == 0


def test_without_hard_interrupts_the_guard_stays_inert(tmp_path):
    # as on an ESP32: Pin.irq has no `hard`, Timer refuses hard=True
    out = run(tmp_path, VBOARD_NO_HARD_IRQ="1")
    assert out["hard"] is False
