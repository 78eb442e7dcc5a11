"""Entry point of the firmware in the VM on the virtual board.

The same boot.py and app as on a board; the only additions are a telemetry task that
reports what the panel cannot see on pins (status name, fault, offered current) and the
bench's and tests' tasks of vboard_hooks.py, loaded only when one of them is asked for;
for the bench, VBOARD_NAMES_EVERY_MS prints the interned names' pool summary that often.

Before the firmware's first import it prints the heap the virtual board itself holds
("vboard: simulation heap N bytes": the hardware stand-ins, the network stand-in, the
link to the world and its thread, this module, and in a ROMFS run the image): on a board
all of it is C code or flash, so tools/bench subtracts it from every heap figure.
"""
import asyncio
import gc
import os
import time

import micropython

import machine  # the virtual board's pins, connected to the world at import
if os.getenv("VBOARD_DNS"):  # name lookups that block as on a board (tests)
    import sys
    import vsocket
    sys.modules["socket"] = vsocket
import network  # noqa: F401 - the Wi-Fi/LAN stand-in (C code on a board)
import vflash  # the raw journal partition; counts file system writes from here on
import vlink
vflash.install()

asyncio.StreamReader  # the link's wake-up pump loads asyncio's stream module
# Every global name here is an interned name in the VM, counted with the firmware's
# (see machine.py): hence no more of them than needed.
_stall = [0]  # the bench probe's longest loop stall (vboard_hooks), reported here
vboard_hooks = None
if any(os.getenv(k) for k in ("VBOARD_STRESS_MS", "VBOARD_PROBE", "VBOARD_HANG_AFTER_MS",
                              "VBOARD_CRASH", "VBOARD_UPDATE_URL", "VBOARD_BALLAST",
                              "VBOARD_PROFILE", "VBOARD_ACCEPT_FAIL", "VBOARD_GC_REPORT")):
    import vboard_hooks  # before the heap is measured: not the firmware's
_last = [None] * (vlink.T_KEYS + vlink.R_KEYS)  # telemetry's last values sent, then RFID's
# for the bench: how often to print the interned names' count (n_qstr), and when it last did
_names = [int(os.getenv("VBOARD_NAMES_EVERY_MS") or 0), 0]


async def telemetry(a, period_ms=20):
    """Reports to the world, for the panel, what it cannot see on pins. Allocates
    nothing in its loop (50 times a second: a tuple of values each time was garbage
    enough for a collection of the whole heap every few seconds)."""
    last = _last
    vals = [0] * (vlink.T_KEYS + vlink.R_KEYS)
    control = a.control
    while True:
        c = control.charger
        pilot = control.pilot
        vals[0] = c.status()
        vals[1] = c.phase
        vals[2] = c.fault
        vals[3] = c.offered_da
        vals[4] = c.retries
        vals[5] = int(c.latched)
        vals[6] = c.current_da
        vals[7] = c.temp_dc
        vals[8] = c.mains_dv
        vals[9] = a.arbiter.limit
        vals[10] = a.arbiter.source
        vals[11] = pilot.state
        vals[12] = pilot.high_mv
        vals[13] = pilot.low_mv
        vals[14] = int(c.authorized)
        vals[15] = a.dip
        vals[16] = int(a.supervisor.safe_mode)
        vals[17] = control.tick_us_max
        vals[18] = c.last_fault
        vals[19] = _stall[0]
        rf = getattr(a, "rfid", None)
        n = vlink.T_KEYS
        if rf is not None:
            au = rf.auth
            vals[n] = rf.state
            vals[n + 1] = au.count
            vals[n + 2] = 0 if rf.reader is None else rf.reader.busy_us_max
            vals[n + 3] = int(au.enrolling)
            vals[n + 4] = au.step
            n += vlink.R_KEYS
        for k in range(n):
            if vals[k] != last[k]:
                last[k] = vals[k]
                if k < vlink.T_KEYS:
                    machine._send(vlink.TELEMETRY, k, vals[k])
                else:
                    machine._send(vlink.RFID_TELE, k - vlink.T_KEYS, vals[k])
        if _names[0] and time.ticks_diff(time.ticks_ms(), _names[1]) >= _names[0]:
            _names[1] = time.ticks_ms()
            micropython.qstr_info()
        await asyncio.sleep_ms(period_ms)


gc.collect()
print("vboard: simulation heap %d bytes" % gc.mem_alloc())
# boot.py puts the running software slot first on the import path, so nothing above may
# import the firmware package (an update on trial would run the base install's code)
import boot  # noqa: E402 - as at power-up on a board: the software slot, the relay pin low
from firmware.boards import virtual  # noqa: E402 - the world's choice of web port, -1: none
virtual.WEB_PORT = int(os.getenv("VBOARD_WEB_PORT") or -1)
if os.getenv("VBOARD_LAN"):  # an Ethernet port (the simulated network.LAN)
    virtual.LAN = {}
if os.getenv("VBOARD_DHCP_PORTS"):  # "server:client": the LAN's DHCP server on loopback
    virtual.DHCP_PORTS = tuple(int(p) for p in os.getenv("VBOARD_DHCP_PORTS").split(":")) + \
        ("127.0.0.1", "127.0.0.1")
if os.getenv("VBOARD_CLOCK"):  # the wall clock at start (Unix s): as if set by NTP
    from firmware.services.platform import datalog
    datalog.clock_offset_s = int(os.getenv("VBOARD_CLOCK")) - int(time.time())
extra = [("vboard-telemetry", telemetry)]
if vboard_hooks:
    extra += vboard_hooks.tasks(_stall)
boot.start(extra)  # what main.py does on a board
while boot.SAFE_BOOT:  # like a board at the REPL: idle, relay open, until the power goes
    time.sleep_ms(100)
