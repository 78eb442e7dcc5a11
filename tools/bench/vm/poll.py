"""Modbus TCP poll times of each meter model: the driver and the register plans alone."""
import asyncio
import json
import os
import time

from firmware.core import meters
from firmware.drivers import modbus

JOB = json.loads(os.getenv("BENCH_JOB"))


async def main():
    out = {}
    for name, unit, model in JOB["meters"]:
        c = modbus.Tcp("127.0.0.1", JOB["port"], 1000)
        p = meters.plan(model)
        buf = bytearray(p.nbytes)
        vals = [0] * 12
        times = []
        for i in range(JOB["polls"] + 1):
            t0 = time.ticks_us()
            n = 0
            for start, count in p.blocks:
                data = await c.read(unit, p.fc, start, count)
                buf[n:n + 2 * count] = data
                n += 2 * count
            p.decode(buf, vals)
            if i:  # the first poll also connects
                times.append(time.ticks_diff(time.ticks_us(), t0))
        c.close()
        out[name] = {"mean_us": sum(times) // len(times), "max_us": max(times),
                     "blocks": len(p.blocks), "i1": vals[3]}
    print(json.dumps(out))


asyncio.run(main())
