"""Entry point of the firmware in the VM on the virtual board.

The same boot.py and app as on a board; the only addition is a telemetry task that
reports what the panel cannot see on pins (status name, fault, offered current).
"""
import asyncio

import boot  # noqa: F401  (as at power-up on a board: relay pin low first)
import machine
import vlink
from firmware import app


async def telemetry(a, period_ms=20):
    last = [None] * vlink.T_KEYS
    while True:
        c = a.control.charger
        vals = (c.status(), c.phase, c.fault, c.offered_da, c.retries, int(c.latched),
                c.current_da, c.temp_dc, c.mains_dv, a.arbiter.limit, a.arbiter.source,
                a.control.pilot.state, a.control.pilot.high_mv, a.control.pilot.low_mv,
                int(c.authorized), a.dip, int(a.supervisor.safe_mode),
                a.control.tick_us_max, c.last_fault)
        for k in range(vlink.T_KEYS):
            if vals[k] != last[k]:
                last[k] = vals[k]
                machine.report(k, vals[k])
        await asyncio.sleep_ms(period_ms)


app.main(extra=(("vboard-telemetry", telemetry),))
