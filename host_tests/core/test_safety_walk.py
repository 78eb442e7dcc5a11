"""Long seeded random walks through the core with the safety invariants checked after
every tick (safety.py). Runs in both runtimes; test_safety_props.py adds hypothesis."""
import random

from safety import PICK, SafetyWalk


def walk(seed, events, ventilation):
    random.seed(seed)
    w = SafetyWalk(ventilation)
    w.wait(1200)  # boot
    for _ in range(events):
        name, n, _ = PICK[random.getrandbits(8) % len(PICK)]
        w.apply(name, random.getrandbits(8) % n)
        w.wait(5)
    return w


def test_random_walks_keep_every_invariant():
    closed = 0
    for seed in range(6):
        w = walk(seed, 300, ventilation=seed % 2 == 1)
        closed += w.closures
    assert closed > 20  # the walks really did charge, not only sit in faults


def test_a_walk_reaches_many_phases():
    seen = set()
    for seed in range(10, 14):
        w = walk(seed, 300, ventilation=False)
        kinds = w.r.c.ev_kind
        seen.add(w.r.c.phase)
        seen.update(kinds[i] for i in range(len(kinds)))
    assert len(seen) >= 4
