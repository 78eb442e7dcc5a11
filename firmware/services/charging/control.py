"""The control loop: a hardware timer runs the charging core every few milliseconds.

Why a timer and not an asyncio task: the timer callback runs between any two bytecodes
of whatever task is busy, so unplug and fault reaction never waits for a task to yield.
It is a soft callback: while the interpreter is stuck in one call into C it does not
run. For that the tick pulses the relay's keep-alive (the coil drops within the
board's KEEPALIVE_MS when the pulses stop), and where the port has hard interrupts the
relay guard (drivers/contactor.Guard) opens it without the tick.
(The residual-current trip is faster still: its interrupt opens the coil directly.)
The tick allocates nothing: sensor values, core inputs and outputs are ints and bools.
"""
from time import ticks_diff, ticks_ms, ticks_us

from machine import Timer
from micropython import const

from firmware.core.charger import Charger
from firmware.core.pilot import DUTY_F, PilotClassifier
from firmware.core.sensing import Smoother, ntc_dc, scale

# Round-robin channel order of the slow analog inputs
_CH_NTC = const(0)
_CH_MAINS = const(1)
_CH_CT = const(2)  # 2, 3, 4 = L1..L3


class Control:
    def __init__(self, hw, cfg, arbiter, tick_ms):
        self.hw = hw
        self.cfg = cfg
        self.arbiter = arbiter
        self.tick_ms = tick_ms
        self.pilot = PilotClassifier()
        self.charger = Charger(cfg, self.pilot, arbiter, ticks_ms())
        self.ticks = 0  # completed ticks; the supervisor feeds the watchdog on progress
        self.tick_us_max = 0
        self.failed = None  # exception that stopped the tick, for the supervisor to log
        self.halted = False  # set by the supervisor after a task crash: relay stays open
        # Values measured by other services when the board has no sensor of its own
        self.ext_current_da = -1
        self.ext_mains_dv = -1
        self._mains = Smoother(2)
        self._ct = (Smoother(1), Smoother(1), Smoother(1))
        self._ct_da = [-1, -1, -1]
        self.phase_da = self._ct_da  # read-only for others: per phase, 0.1 A, -1 = none
        self._timer = None

    # ----------------------------------------------------------------- lifecycle
    def start(self):
        self._timer = Timer(self.hw.timer_id)
        self._timer.init(mode=Timer.PERIODIC, period=self.tick_ms, callback=self._tick)
        self.hw.guard.start()

    def stop(self):
        """Stop ticking and leave the outputs safe: relay open, pilot at -12 V."""
        if self._timer is not None:
            self._timer.deinit()
            self._timer = None
        self.hw.guard.stop()
        self.safe_outputs()

    def safe_outputs(self):
        self.hw.relay.open()
        self.hw.pilot.set_duty(DUTY_F)
        if self.hw.rcd is not None:
            self.hw.rcd.set_test(False)

    def restart(self):
        """Start over with a fresh core (after a crash); the relay is already open."""
        self.stop()
        vehicle = self.pilot.vehicle  # the last known plug state survives the restart
        self.pilot = PilotClassifier()
        self.pilot.vehicle = vehicle
        self.charger = Charger(self.cfg, self.pilot, self.arbiter, ticks_ms())
        self.failed = None
        self.start()

    # ---------------------------------------------------------------------- tick
    def _tick(self, _timer):
        try:
            t0 = ticks_us()
            self.step(ticks_ms())
            dt = ticks_diff(ticks_us(), t0)
            if dt > self.tick_us_max:
                self.tick_us_max = dt
        except Exception as e:  # noqa: BLE001 - any failure must leave the relay open
            if self._timer is not None:
                self._timer.deinit()
                self._timer = None
            self.safe_outputs()
            self.failed = e

    def step(self, now):
        hw = self.hw
        c = self.charger
        hw.pilot.sample()
        p = hw.pilot
        self.pilot.update(p.high_mv, p.low_mv, p.duty, p.high_ok, p.low_ok)
        self._read_slow()
        c.out_live = hw.relay.output_live()
        c.rcd_trip = hw.rcd.tripped() if hw.rcd is not None else False
        c.pe_ok = hw.pe is None or hw.pe.active()
        c.halted = self.halted
        c.coil_open = not hw.relay.closed
        c.step(now)
        hw.relay.set(c.relay)
        hw.relay.pulse(now)
        hw.pilot.set_duty(c.duty)
        if hw.rcd is not None:
            hw.rcd.set_test(c.rcd_test)
        self.ticks += 1

    def _read_slow(self):
        hw = self.hw
        ch = hw.slow.step()
        raw = hw.slow.raw[ch]
        c = self.charger
        if ch == _CH_NTC:
            c.temp_dc = ntc_dc(raw, hw.ntc_table) if hw.has_ntc else 250
        elif ch == _CH_MAINS:
            if hw.has_mains:
                c.mains_dv = self._mains.update(scale(raw, 0, hw.mains_num, hw.mains_den))
            else:
                c.mains_dv = self.ext_mains_dv
        else:
            i = ch - _CH_CT
            if hw.has_ct[i]:
                self._ct_da[i] = self._ct[i].update(scale(raw, 0, hw.ct_num, hw.ct_den))
            best = -1
            for v in self._ct_da:
                if v > best:
                    best = v
            c.current_da = best if best >= 0 else self.ext_current_da

