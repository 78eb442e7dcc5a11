"""Heap allocated and time taken per steady-state control tick, the board charging."""
import gc
import json
import time

import inproc_world

inproc_world.setup()
from firmware import app  # noqa: E402 - after the virtual board's setup

a = app.App()
st = inproc_world.Stepper(a.control)
st.run(3000)
ctl = a.control
assert ctl.charger.relay, "not charging: phase %d fault %d" % (ctl.charger.phase,
                                                               ctl.charger.fault)
tick = st.tick


def measure(n):
    # locals only: a first assignment to a module global would grow its dict mid-run
    gc.collect()
    gc.disable()
    a0 = gc.mem_alloc()
    t0 = time.ticks_us()
    worst = 0
    for _ in range(n):
        t1 = time.ticks_us()
        tick()
        d = time.ticks_diff(time.ticks_us(), t1)
        if d > worst:
            worst = d
    elapsed = time.ticks_diff(time.ticks_us(), t0)
    a1 = gc.mem_alloc()
    gc.enable()
    return (a1 - a0) / n, elapsed / n, worst


N = 2000
per_tick, us_mean, us_max = measure(N)
print(json.dumps({"bytes": per_tick, "us_mean": us_mean, "us_max": us_max,
                  "relay": ctl.charger.relay}))
