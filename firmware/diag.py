"""Field diagnostics at the serial REPL:

    >>> from firmware import diag
    >>> diag.status()        # charging state, fault, limits, measurements
    >>> diag.pilot()         # raw pilot plateaus and the duty, sampled now
    >>> diag.faults()        # fault history;  diag.log(30) for the whole log

With the firmware running (`app.current`) it reads the live objects; after Ctrl-C (the
relay is then open) it reads the same objects, and the pilot is sampled afresh.
Imported only at the REPL, so it costs no RAM in normal operation.
"""
from firmware import app as _app
from firmware.core import charger as _ch
from firmware.core import faults as _faults
from firmware.core import limits as _limits
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
    for e in _a().log.tail(n, "fault"):
        print(e[0], e[1], e[3])


def log(n=20):
    for e in _a().log.tail(n):
        print(e[0], e[1], e[2], e[3])
