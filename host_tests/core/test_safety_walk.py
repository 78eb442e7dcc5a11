"""Long seeded random walks through the core with the safety invariants checked after
every tick (safety.py). Runs in both runtimes; test_safety_props.py adds hypothesis."""
import random

from safety import PICK, SafetyWalk
from tier import count


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
    seeds = range(count(2, 6))
    for seed in seeds:
        w = walk(seed, 300, ventilation=seed % 2 == 1)
        closed += w.closures
    # the walks really did charge, not only sit in faults: over 20 closures in 6 walks
    assert closed > 10 * len(seeds) // 3


def test_a_walk_reaches_many_phases():
    seen = set()
    for seed in range(10, 10 + count(2, 4)):
        w = walk(seed, 300, ventilation=False)
        kinds = w.r.c.ev_kind
        seen.add(w.r.c.phase)
        seen.update(kinds[i] for i in range(len(kinds)))
    assert len(seen) >= 4
