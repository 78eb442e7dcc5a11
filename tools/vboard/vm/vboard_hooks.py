"""Bench and test tasks for the firmware in the VM, loaded by vboard_main only when one
of their variables is set (so an ordinary run does not carry their names):

- VBOARD_STRESS_MS: a task that runs that long without yielding, again and again;
- VBOARD_PROBE: a task that measures the event loop's longest stall (reported by the
  telemetry as T_STALL_US);
- VBOARD_HANG_AFTER_MS: a task that hangs the event loop that long after the relay
  first closes (the watchdog tests: a busy host may take seconds to reach charging);
- VBOARD_CRASH=after_ms:times: a task that raises after_ms after each start, `times`
  times in all (the supervisor tests); with it, VBOARD_CRASH2 the same for a second task.
  Each start prints whether the relay is closed at that moment;
- VBOARD_UPDATE_URL: install that update bundle after VBOARD_UPDATE_AFTER_MS, as the
  backend's UpdateFirmware does (VBOARD_UPDATE_FORCE: also an older version);
- VBOARD_PROFILE=us: every task's steps timed, those over us printed (vboard_profile.py);
- VBOARD_BALLAST=free_kb:ms: all of the heap but free_kb held from before the firmware's
  imports until ms after its start, then freed (memory that runs out at start-up);
- VBOARD_GC_REPORT: print the garbage collector's threshold once the firmware runs
  (app.main sets it; the test of "Garbage collection while running");
- VBOARD_ACCEPT_FAIL=n: the web server's first n accepted connections run out of memory
  (MemoryError where the accept loop makes the connection's stream).
"""
import asyncio
import gc
import os
import time

import machine

if os.getenv("VBOARD_PROFILE"):
    import vboard_profile  # wraps asyncio.create_task before the firmware makes a task

_ballast = [int(x) for x in (os.getenv("VBOARD_BALLAST") or "0:0").split(":")]
if _ballast[1]:
    gc.collect()
    _ballast.append(bytearray(gc.mem_free() - _ballast[0] * 1024))

_accept_fail = [int(os.getenv("VBOARD_ACCEPT_FAIL") or 0)]
if _accept_fail[0]:
    from asyncio import stream as _stream_module
    _stream = _stream_module.Stream

    def _failing_stream(sock, extra=None):
        if extra and "peername" in extra and _accept_fail[0] > 0:  # an accept
            _accept_fail[0] -= 1
            print("vboard: out of memory injected at accept")
            raise MemoryError("vboard: injected at accept")
        return _stream(sock) if extra is None else _stream(sock, extra)
    # both names: the firmware's accept loop uses the first, asyncio's start_server the other
    asyncio.StreamReader = _stream_module.Stream = _failing_stream


async def stress(a, busy_ms):
    while True:
        t0 = time.ticks_ms()
        while time.ticks_diff(time.ticks_ms(), t0) < busy_ms:
            pass
        await asyncio.sleep_ms(1)


async def probe(a, stall):
    while True:
        t0 = time.ticks_us()
        await asyncio.sleep_ms(0)
        gap = time.ticks_diff(time.ticks_us(), t0)
        if gap > stall[0]:
            stall[0] = gap


async def hang(a, after_ms):
    while not a.control.charger.relay:
        await asyncio.sleep_ms(50)
    await asyncio.sleep_ms(after_ms)
    print("vboard: the event loop hangs now")
    while True:  # never yields again: only the timer tick and the watchdog still run
        pass


async def crash(a, left, name):
    print("vboard: %s starts, relay %d" % (name, a.control.charger.relay))
    await asyncio.sleep_ms(left[0])
    if left[1] > 0:
        left[1] -= 1
        raise RuntimeError("vboard: injected crash")
    while True:
        await asyncio.sleep_ms(60000)


async def update_from_url(a):
    await asyncio.sleep_ms(int(os.getenv("VBOARD_UPDATE_AFTER_MS") or 2000))
    from firmware.services.platform.update import UpdateError
    try:
        from firmware.services.net.download import install_from_url
        version = await install_from_url(a.updater(), os.getenv("VBOARD_UPDATE_URL"),
                                         force=bool(os.getenv("VBOARD_UPDATE_FORCE")))
        a.restart("software update to " + version)
    except UpdateError as e:
        print("vboard: update refused:", e)
    while True:
        await asyncio.sleep_ms(60000)


async def gc_report(a):
    print("vboard: gc threshold %d" % gc.threshold())
    while True:
        await asyncio.sleep_ms(60000)


async def free_ballast(a):
    await asyncio.sleep_ms(_ballast[1])
    _ballast.pop()
    gc.collect()
    print("vboard: ballast freed")
    while True:
        await asyncio.sleep_ms(60000)


def tasks(stall):
    """The (name, factory) pairs the environment asks for; `stall` is the telemetry's
    one-item list for the probe's figure."""
    out = []
    if os.getenv("VBOARD_PROFILE"):
        vboard_profile.label_services()
    busy = int(os.getenv("VBOARD_STRESS_MS") or 0)
    if busy:
        out.append(("bench-stress", lambda a: stress(a, busy)))
    if os.getenv("VBOARD_PROBE"):
        out.append(("bench-probe", lambda a: probe(a, stall)))
    hang_ms = int(os.getenv("VBOARD_HANG_AFTER_MS") or 0)
    if hang_ms:
        out.append(("test-hang", lambda a: hang(a, hang_ms)))
    for name, var in (("test-crash", "VBOARD_CRASH"), ("test-crash2", "VBOARD_CRASH2")):
        left = [int(x) for x in (os.getenv(var) or "0:0").split(":")]
        if left[1]:
            out.append((name, lambda a, left=left, name=name: crash(a, left, name)))
    if _ballast[1]:
        out.append(("test-ballast", free_ballast))
    if os.getenv("VBOARD_GC_REPORT"):
        out.append(("test-gc-report", gc_report))
    if os.getenv("VBOARD_UPDATE_URL") and machine.reset_cause() == machine.PWRON_RESET:
        out.append(("test-update", update_from_url))
    return out
