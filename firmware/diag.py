"""Field diagnostics at the serial REPL:

    >>> from firmware import diag
    >>> diag.status()        # charging state, fault, limits, measurements
    >>> diag.pilot()         # raw pilot plateaus and the duty, sampled now
    >>> diag.faults()        # fault history (data log);  diag.log() the last entries in RAM
    >>> diag.relay()         # relay test: closes for 0.3 s, only with no vehicle
    >>> diag.meter()         # read the configured meter once;  diag.rfid() reads a card
    >>> diag.net()           # interfaces, addresses, clock
    >>> diag.tail(30)        # the data log on flash, newest last
    >>> diag.config()        # settings that differ from the defaults, and provisioning
    >>> diag.mem()           # heap used and free, the largest free block, what is loaded
    >>> diag.set("charging.max_current_a", 16)
    >>> diag.selftest()      # every check the hardware allows; True if all passed
    >>> diag.update("http://host/wallbox-1.2.0.wbx")   # install a bundle, then reset
    >>> diag.factory_reset()  # says what it deletes; diag.factory_reset("erase") does it

After a power-up with the service button held (the app does not start), build the
objects without running them: `from firmware import app; app.current = app.App()`.

With the firmware running (`app.current`) it reads the live objects; after Ctrl-C (the
relay is then open) it reads the same objects, and the pilot is sampled afresh.
Imported only at the REPL, so it costs no RAM in normal operation.
"""
from firmware import app as _app
from firmware.core import charger as _ch
from firmware.core import faults as _faults
from firmware.core import limits as _limits
from firmware.core.pilot import DUTY_F as _DUTY_F
from firmware.core.pilot import DUTY_OFF as _DUTY_OFF
from firmware.core.pilot import NAMES as _PILOT, da_from_duty


def _a():
    a = _app.current
    if a is None:
        raise RuntimeError("the firmware has not run since the reset: import main first, "
                           "or build it with firmware.app.App()")
    return a


def _amps(da):
    return "n/a" if da < 0 else "%d.%d A" % (da // 10, da % 10)


def status():
    a = _a()
    c = a.control.charger
    print("status     ", _ch.STATUS_NAMES[c.status()], "(" + _ch.PHASE_NAMES[c.phase] + ")")
    print("fault      ", "none" if not c.fault else "%d: %s" % (c.fault, _faults.meaning(c.fault)),
          "| retries %d%s" % (c.retries, " latched" if c.latched else ""))
    print("offered    ", _amps(c.offered_da), "| limit", _amps(a.arbiter.limit),
          "set by", _limits.NAMES[a.arbiter.source])
    print("pilot      ", _PILOT[a.control.pilot.state], "| duty %d.%02d %%" % (
        c.duty // 100, c.duty % 100))
    print("relay      ", "closed" if c.relay else "open", "| output",
          "live" if c.out_live else "dead")
    print("measured   ", _amps(c.current_da), "| mains", "n/a" if c.mains_dv < 0 else
          "%d.%d V" % (c.mains_dv // 10, c.mains_dv % 10),
          "| temperature %d.%d C" % (c.temp_dc // 10, c.temp_dc % 10))
    print("control     %d ticks, slowest %d us%s" % (
        a.control.ticks, a.control.tick_us_max,
        "" if a.control.failed is None else ", FAILED: %r" % a.control.failed))
    print("modes      ", "showroom" if c.showroom else "", "commissioning" if c.service_mode
          else "", "halted" if c.halted else "", "safe mode" if a.supervisor.safe_mode else "")


def pilot(samples=5):
    """Sample the pilot now: the high and low plateau in mV, and the duty being driven."""
    drv = _a().hw.pilot
    for _ in range(samples):
        drv.sample()
        print("high %6d mV  low %6d mV  duty %5d (%s offered)" % (
            drv.high_mv, drv.low_mv, drv.duty, _amps(da_from_duty(drv.duty))))


def faults(n=10):
    """The last `n` faults from the data log on flash (it keeps them across restarts)."""
    for line in _a().datalog.newest(n, "fault")[::-1]:
        print(line.rstrip())


def log(n=20):
    for e in _a().log.tail(n):
        print(e[0], e[1], e[2], e[3])


def _stopped(a):
    return a.control._timer is None


def _sleep(ms):
    import time
    time.sleep_ms(ms)


def relay(ms=300):
    """Close the relay for `ms` and watch the output sense. Refused while the firmware
    runs (Ctrl-C first) or when a vehicle is connected: the pilot must read state A."""
    a = _a()
    if not _stopped(a):
        print("refused: the firmware is running; press Ctrl-C first")
        return False
    hw = a.hw
    hw.pilot.set_duty(_DUTY_OFF)  # constant +12 V: a vehicle would pull it down
    _sleep(20)
    hw.pilot.sample()
    if hw.pilot.high_mv < 10500:
        print("refused: a vehicle seems connected (pilot %d mV)" % hw.pilot.high_mv)
        return False
    if hw.rcd is not None and hw.rcd.tripped():
        print("refused: residual-current detector tripped")
        return False
    import time
    try:
        hw.relay.set(True)
        end = time.ticks_add(time.ticks_ms(), min(ms, 1000))
        while time.ticks_diff(end, time.ticks_ms()) > 0:  # the coil holds while pulsed
            hw.relay.pulse(time.ticks_ms())
            _sleep(5)
        live = hw.relay.output_live()
    finally:
        hw.relay.open()  # whatever happened
        hw.pilot.set_duty(_DUTY_F)
    _sleep(50)
    dead = not hw.relay.output_live()
    sensed = a.board.RELAY_SENSE is not None
    ok = (live and dead) if sensed else True
    print("relay test:", "closed -> output", "live" if live else "DEAD",
          "| opened -> output", "dead" if dead else "LIVE (welded?)",
          "" if sensed else "(no output sense on this board)", "->", "ok" if ok else "FAIL")
    return ok


def _run(coro):
    import asyncio
    return asyncio.run(coro)


def meter(which="grid"):
    a = _a()
    m = getattr(a, "meters", None)
    if m is None:
        print("no meter service")
        return None
    r = _run(m.test_connection(which))
    print(r)
    return r


def rfid(seconds=10):
    """Wait up to `seconds` for a card and print its UID."""
    a = _a()
    r = getattr(getattr(a, "rfid", None), "reader", None)
    if r is None:
        print("no RFID reader on this board")
        return None
    import asyncio

    async def read():
        if not r.version:
            await r.start()
        if not r.version:
            return "reader does not answer"
        for _ in range(seconds * 10):
            n = await r.read()
            if n > 0:
                return "card " + "".join("%02X" % b for b in r.uid[:n])
            await asyncio.sleep_ms(100)
        return "no card within %d s" % seconds

    print(_run(read()))


def net():
    a = _a()
    n = getattr(a, "net", None)
    if n is not None:
        for line in n.describe():
            print(line)
    else:
        print("network service not running")
    from firmware.services.platform.datalog import stamp
    print("clock      ", stamp())


def tail(n=20):
    a = _a()
    for line in a.datalog.newest(n)[::-1]:
        print(line.rstrip())


def config():
    a = _a()
    from firmware.core import settings
    d = settings.defaults()
    v = a.config.values
    for k in sorted(v):
        if v[k] != d.get(k):
            print("%-28s %r" % (k, "********" if "password" in k else v[k]))
    p = a.config.prov
    print("serial %s, board %s, update key %s" % (p.get("serial"), p.get("board", "default"),
                                                  "set" if p.get("update_key") else "none"))


def mem():
    """The heap after a collection: what a board has left, whether the free part is in
    one piece (a large allocation, e.g. a TLS handshake, needs a contiguous block), and
    the interned names (docs/hardware.md). Works without a running firmware too."""
    import gc
    import sys

    import micropython
    gc.collect()
    used, free = gc.mem_alloc(), gc.mem_free()
    print("heap        %d KB used, %d KB free of %d KB" % (
        used // 1024, free // 1024, (used + free) // 1024))
    micropython.mem_info()  # ends with the block summary: "max free sz" is the largest
    micropython.qstr_info()  # interned names: their pools double as they fill
    mods = sorted(m for m in sys.modules if m.startswith("firmware."))
    print("loaded      %d firmware modules: %s" % (
        len(mods), " ".join(m[9:] for m in mods)))


def set(key, value):  # noqa: A001 - diag.set(...) reads naturally at the REPL
    from firmware.services.platform.configdoc import AT_RESTART
    errors = _a().config.update({key: value})  # applied at once (App.settings_changed)
    print(errors or ("saved; applied at the next restart" if key.startswith(AT_RESTART)
                     else "saved and applied"))
    return not errors


def selftest():
    """Run every check this board allows; prints each, returns True if all passed."""
    import os
    a = _a()
    c = a.control.charger
    hw = a.hw
    results = []

    def check(name, ok, detail=""):
        results.append(ok)
        print("%-4s %-18s %s" % ("ok" if ok else "FAIL", name, detail))

    if _stopped(a):
        hw.pilot.set_duty(_DUTY_OFF)
        _sleep(20)
    hw.pilot.sample()
    check("pilot", hw.pilot.high_mv > 2000, "%d mV" % hw.pilot.high_mv)
    if not _stopped(a):
        t = a.control.ticks
        _sleep(100)
        check("control tick", a.control.ticks != t and a.control.failed is None,
              "%d ticks" % a.control.ticks)
    check("relay open", not hw.relay.closed or c.relay, "coil %s" % hw.relay.closed)
    if a.board.RELAY_SENSE is not None and not hw.relay.closed:
        check("output sense", not hw.relay.output_live(), "dead while open")
    if hw.rcd is not None and _stopped(a):
        # polled up to the charger's own self-test limit (rcd_test_ms), as detectors
        # differ in their trip time; a fixed short wait failed a slow but good one
        hw.rcd.set_test(True)
        waited = 0
        while not hw.rcd.tripped() and waited < c.cfg.rcd_test_ms:
            _sleep(5)
            waited += 5
        tripped = hw.rcd.tripped()
        hw.rcd.set_test(False)
        check("RCD test", tripped, "tripped in %d ms" % waited if tripped else "no trip")
    if hw.has_ntc:
        check("temperature", -300 < c.temp_dc < 800, "%d.%d C" % (c.temp_dc // 10,
                                                                  c.temp_dc % 10))
    if hw.has_mains:
        check("mains", c.mains_dv < 0 or 1800 < c.mains_dv < 2700,
              "%d V" % (c.mains_dv // 10))
    check("DIP switches", a.dip != 0, "code %d" % a.dip)
    try:
        s = os.statvfs(".")
        free = s[0] * s[3]
        check("flash", free > 65536, "%d KB free" % (free // 1024))
    except (OSError, AttributeError):
        pass
    check("provisioned", not a.config.prov["serial"].startswith("UNPROV"),
          a.config.prov["serial"])
    check("safe mode", not a.supervisor.safe_mode, "")
    if _stopped(a):
        hw.pilot.set_duty(_DUTY_F)
    ok = all(results)
    print("self-test", "passed" if ok else "FAILED")
    return ok


def update(url, force=False):
    """Download and install an update bundle, then reset into it."""
    a = _a()
    from firmware.services.platform.update import UpdateError
    try:
        from firmware.services.net.download import install_from_url
        v = _run(install_from_url(a.updater(), url, force))
    except UpdateError as e:
        print("refused:", e)
        return False
    print("installed", v, "- resetting")
    a.restart("software update to " + v)


def factory_reset(confirm=None):
    """Back to the state as delivered, then a reset: only with confirm="erase"."""
    a = _a()
    if confirm != "erase":
        names = []  # services register their files again (diag.set hides set())
        for p in a.config.user_files:
            if p not in names:
                names.append(p)
        print("deletes:", ", ".join(names))
        print("keeps:    prov.json (serial, label passwords, board, update key), the "
              "software, the data log")
        print('confirm:  diag.factory_reset("erase")')
        return
    a.stop()  # the relay open first: deleting files may erase flash
    a.config.factory_reset()
    a.restart("factory reset at the REPL")
