"""Loop-hold profiler for the bench and the latency test (VBOARD_PROFILE=<us>): times
every step of every task (from one resume of its coroutine to its next await that
suspends) and prints each step that computed longer than <us> as

    vboard: hold <us> <task> wall <us> queued <us> sim <us> irq <us>

`<task>` is the supervised service's name (supervisor.add) or else the coroutine's
function name (`handle_request` for a web request, `_reader` for the backend's frames...).
The hold is the CPU time the VM's thread spent in the firmware during the step
(/proc/thread-self/schedstat, read around every step, parsed only for slow ones; the
kernel keeps it to about a millisecond): what the firmware computed, its timer and pin
callbacks inside the step (the control tick; `irq`, wall time) included, as they delay
the loop on a board too. Left out, as the host's and not the firmware's: time waiting
for a CPU (`queued`), time blocked in the host (its disk under the flash stand-in, the
virtual board's own thread holding the VM's heap lock), and `sim`, the time of the
simulated chips that run in Python on this thread (the card reader behind machine.SPI,
the card field's records): on a board that is silicon, an SPI transfer of a few bytes
(docs/decisions.md, "Event-loop latency"). A task that blocks in the firmware (a sleep
in C) shows in the probe's loop stall figures, not here. Installed before the firmware
starts, so every task is wrapped.
"""
import asyncio
import os
import time

_THRESHOLD_US = int(os.getenv("VBOARD_PROFILE") or 0) or 2000
_STAT = open("/proc/thread-self/schedstat", "rb")
_before = bytearray(64)  # schedstat at the step's start, parsed only if it was slow
_after = bytearray(64)
_label = [None]  # the supervised service whose step runs now
# us in [0] the simulated chips, [1] the firmware's scheduled callbacks (wall time: they
# are short); [2], [3]: their values at the step's start
_cb = [0, 0, 0, 0]


def _ns(buf, field):
    # "<ns on cpu> <ns waiting on a runqueue> <timeslices>\n"
    return int(bytes(buf).split()[field])


def _start():
    _label[0] = None
    _cb[2] = _cb[0]
    _cb[3] = _cb[1]
    _STAT.seek(0)
    _STAT.readinto(_before)


def _note(t0, name):
    wall = time.ticks_diff(time.ticks_us(), t0)
    if wall <= _THRESHOLD_US:
        return
    _STAT.seek(0)
    _STAT.readinto(_after)
    sim = _cb[0] - _cb[2]
    hold = (_ns(_after, 0) - _ns(_before, 0)) // 1000 - sim
    if hold > _THRESHOLD_US:
        print("vboard: hold %d %s wall %d queued %d sim %d irq %d" % (
            hold, _label[0] or name, wall, (_ns(_after, 1) - _ns(_before, 1)) // 1000,
            sim, _cb[1] - _cb[3]))


class Timed:
    """A task's coroutine, timed step by step (asyncio only calls send and throw)."""

    def __init__(self, coro):
        self.coro = coro
        r = repr(coro)  # "<generator object 'name' at ...>"
        self.name = r.split("'")[1] if "'" in r else r

    def send(self, v):
        _start()
        t0 = time.ticks_us()
        try:
            return self.coro.send(v)
        finally:
            _note(t0, self.name)

    def throw(self, *exc):
        _start()
        t0 = time.ticks_us()
        try:
            return self.coro.throw(*exc)
        finally:
            _note(t0, self.name)

    def close(self):
        return self.coro.close()

    def __iter__(self):
        return self

    def __next__(self):
        return self.send(None)


class Labelled:
    """A supervised service's coroutine: names the steps it runs in."""

    def __init__(self, coro, name):
        self.coro = coro
        self.name = name

    def send(self, v):
        _label[0] = self.name
        return self.coro.send(v)

    def throw(self, *exc):
        _label[0] = self.name
        return self.coro.throw(*exc)

    def close(self):
        return self.coro.close()

    def __iter__(self):
        return self

    def __next__(self):
        return self.send(None)


_create = asyncio.core.create_task


def create_task(coro):
    return _create(coro if isinstance(coro, Timed) else Timed(coro))


asyncio.create_task = asyncio.core.create_task = create_task


def _simulated(f):
    """f timed as a simulated chip's work (wall time: the schedstat only moves at the
    kernel's ticks, too coarse for calls of tens of us; a call is rarely preempted)."""
    def timed(*args):
        t0 = time.ticks_us()
        try:
            return f(*args)
        finally:
            _cb[0] += time.ticks_diff(time.ticks_us(), t0)
    return timed


def label_services():
    """Name the supervised services' steps and time the simulated chips and the
    scheduled callbacks (called once the firmware is importable)."""
    from firmware.services.platform import supervisor
    add = supervisor.Supervisor.add

    def labelled_add(self, name, factory):
        add(self, name, lambda: Labelled(factory(), name))
    supervisor.Supervisor.add = labelled_add
    import machine
    machine.SPI.write_readinto = _simulated(machine.SPI.write_readinto)
    run = machine._run_slot
    sim_slot = _simulated(run)

    def timed_slot(i):
        if i == 0:  # the link's slot 0: the card field's records, applied to the chip
            sim_slot(i)
            return
        t0 = time.ticks_us()
        try:
            run(i)
        finally:
            _cb[1] += time.ticks_diff(time.ticks_us(), t0)
    machine._run_slot = timed_slot
