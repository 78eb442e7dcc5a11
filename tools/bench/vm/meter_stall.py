"""How long the meter service holds the event loop, its grid meter silent or off."""
import asyncio
import json
import os
import time

import meter_app

from firmware.core import limits
from firmware.services.metering.service import Meters

CFG = json.loads(os.getenv("BENCH_JOB"))
app = meter_app.make(CFG, (160, 160, 160), 160, True)
worst = [0]
held = [0]


class Timed:
    # Drives a coroutine step by step and keeps the longest step: how long the task
    # held the event loop at a time, unaffected by the host pausing the VM elsewhere.

    def __init__(self, coro):
        self.coro = coro

    def send(self, v):
        t0 = time.ticks_us()
        try:
            return self.coro.send(v)
        finally:
            d = time.ticks_diff(time.ticks_us(), t0)
            if d > held[0]:
                held[0] = d

    def throw(self, *exc):
        t0 = time.ticks_us()
        try:
            return self.coro.throw(*exc)
        finally:
            d = time.ticks_diff(time.ticks_us(), t0)
            if d > held[0]:
                held[0] = d

    def close(self):
        return self.coro.close()

    def __iter__(self):
        return self

    def __next__(self):
        return self.send(None)


_create = asyncio.core.create_task


def create_task(coro):  # every task the service starts (wait_for's too) is timed
    return _create(coro if isinstance(coro, Timed) else Timed(coro))


async def probe():
    # Sleeps 1 ms at a time rather than spinning: a process that spins is preempted by
    # the host's scheduler for whole time slices, which would read as stalls here.
    while True:
        t0 = time.ticks_us()
        await asyncio.sleep_ms(1)
        gap = time.ticks_diff(time.ticks_us(), t0) - 1000
        if gap > worst[0]:
            worst[0] = gap


async def main():
    m = Meters(app)
    asyncio.create_task(probe())
    asyncio.core.create_task = create_task
    asyncio.create_task(Timed(m.run()))
    await asyncio.sleep_ms(1000)  # loading the metering code, the first poll
    first = held[0]
    worst[0] = held[0] = 0
    await asyncio.sleep_ms(CFG["_run_ms"])
    print(json.dumps({"stall_us": worst[0], "held_us": held[0], "first_us": first,
                      "lost": app.panel.front.meter_lost,
                      "fallback": app.arbiter.claims[limits.METER_FALLBACK]}))


asyncio.run(main())
