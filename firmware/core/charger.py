"""The charging session state machine (IEC 61851 mode 3, the manual's status list).

Pure and deterministic: the control tick sets the inputs (attributes), calls
`step(now_ms)` and applies the outputs (`relay`, `duty`, `rcd_test`). No allocation:
everything is an int or bool attribute, events go to a preallocated ring.

The relay closes only when every condition in `_may_close()` holds, and opens in the
same step in which any of them fails. Small helpers are inlined on purpose: on
MicroPython each function costs about 100 bytes of RAM.
"""
from micropython import const

from firmware.core import faults
from firmware.core import pilot as cp
from firmware.core.limits import INSTALLATION, TEMPERATURE
from firmware.core.pilot import DUTY_F, DUTY_OFF, da_from_duty, duty_from_da
from firmware.core.sensing import NO_READING, derate_da
from firmware.core.ticks import ticks_diff

# Phases (what the charger is doing)
BOOT = const(0)
IDLE = const(1)
SELFTEST = const(2)
WAIT_AUTH = const(3)
READY = const(4)
WAKEUP = const(5)
CHARGING = const(6)
SUSPENDED = const(7)
FAULT = const(8)
PERMANENT = const(9)
DISABLED = const(10)
PHASE_NAMES = ("boot", "idle", "self-test", "waiting for authorization", "ready",
               "wake-up", "charging", "suspended", "fault", "permanent fault", "disabled")

# The manual's status list (what the charger reports); index = status
STATUS_NAMES = ("Idle", "ReadyForCharging", "Charging", "Suspended", "RecoverFromError",
                "UnrecoverableError", "ServiceMode", "Degraded", "TokenProgrammingMode")
_ST_IDLE = const(0)
_ST_READY = const(1)
_ST_CHARGING = const(2)
_ST_SUSPENDED = const(3)
_ST_RECOVER = const(4)
_ST_UNRECOVERABLE = const(5)
_ST_SERVICE = const(6)
_ST_DEGRADED = const(7)
_ST_PROGRAMMING = const(8)

# Event kinds written to the ring for the log service
EV_PHASE = const(1)  # code = new phase
EV_FAULT = const(2)  # code = fault code
EV_RELAY = const(3)  # code = 1 closed, 0 opened
EV_RETRY = const(4)  # code = retry number
EV_VENT_REFUSED = const(5)  # state D without ventilation
EV_CLEARED = const(6)  # code = fault that cleared by itself
EV_WAKEUP = const(7)
_RING = const(16)

# Self-test steps of the residual-current detector
_RCD_START = const(0)
_RCD_WAIT_TRIP = const(1)
_RCD_WAIT_CLEAR = const(2)
_RCD_DONE = const(3)


class ChargerConfig:
    """Timings and thresholds. Defaults follow standards.md and the manual."""

    def __init__(self):
        self.boot_ms = 1000  # weld check before the first session
        self.selftest_ms = 3000  # orange "for several seconds"
        self.rcd_present = True  # a 6 mA DC detector with a test input is fitted
        self.rcd_test_ms = 1000  # the detector must trip (and release) within this
        self.fault_hold_ms = 1000  # state F after a fault (standard: >= 300 ms)
        self.retry_delay_ms = 10000
        self.max_retries = 5
        self.fault_show_ms = 10000  # how long code 1 stays up after the vehicle left
        self.wake_after_ms = 30000  # no C within this after offering: wake-up pulse
        self.wake_pulse_ms = 3000
        self.relay_sense = True  # the relay's output side is sensed (weld / 8001 checks)
        self.relay_check_ms = 1000  # output voltage must follow the relay within this
        self.suspend_open_ms = 6000  # PWM off but car stays in C: open under load after
        self.duty_interval_ms = 5000  # at most one duty change per interval
        self.overcurrent_ms = 6000  # over the tolerance for longer than this: 4003
        self.mains_min_dv = 1600
        self.mains_max_dv = 2800
        self.mains_hold_ms = 1000
        self.mains_clear_ms = 3000
        self.temp_sensor = True
        self.temp_derate_dc = 600  # derate linearly from here down to 6 A at temp_stop_dc
        self.temp_stop_dc = 750
        self.temp_resume_dc = 550
        self.ventilation = False  # state D allowed only with ventilation present


class Charger:
    def __init__(self, cfg, pilot, arbiter, now):
        self.cfg = cfg
        self.pilot = pilot
        self.arbiter = arbiter
        # Inputs, set by the control tick (or the services) before step()
        self.out_live = False  # voltage on the relay's output side
        self.mains_dv = -1  # input voltage in 0.1 V, -1 = not measured
        self.temp_dc = 250  # enclosure temperature in 0.1 degC
        self.current_da = -1  # highest phase current drawn, -1 = not measured
        self.rcd_trip = False  # detector tripped (line active or latched since last tick)
        self.pe_ok = True
        self.authorized = True  # from the authorization service (True when it is off)
        self.showroom = False
        self.service_mode = False
        self.updating = False
        self.programming = False
        self.halted = False  # a service crashed: keep the relay open until it is back
        # A file is being written (services/platform/flashgate): an erase on the way would hold
        # the interpreter longer than the keep-alive's drop-out, so the relay waits to
        # close. Only closing waits: the flash is never written while it is closed.
        self.flash_busy = False
        # The relay driver found open while the core commands it closed: the hard-IRQ
        # guard opens it without the core (drivers/contactor.Guard). The core then drops
        # its command, so the relay closes again only by the gated way (_may_close_now:
        # no file write under way, a settled pilot); re-driving the coil from the tick
        # would close it under a write that began once the guard had opened it.
        self.coil_open = False
        # Outputs
        self.relay = False
        self.duty = DUTY_OFF
        self.rcd_test = False
        self.phase = BOOT
        self.fault = faults.NONE
        self.last_fault = faults.NONE
        self.retries = 0
        self.latched = False  # retries used up: waits for unplug or restart
        self.car_paused = False
        self.vent_refused = False
        self.offered_da = 0
        self.selftest_ok = False
        # Event ring: readers keep their own count of ev_head
        self.ev_kind = [0] * _RING
        self.ev_code = [0] * _RING
        self.ev_head = 0
        # Timestamps
        self._since = now  # entry into the current phase
        self._relay_at = now  # last relay change
        self._dead_at = -1  # first step that found the closed relay's output dead, -1: none
        self._duty_at = now  # last duty change
        self._prev_offer_da = 0
        self._mains_bad = False
        self._mains_bad_at = now
        self._mains_good_at = now  # last time the mains was out of range
        self._over = False
        self._over_at = now
        self._rcd_step = _RCD_START
        self._rcd_at = now
        self._woken = False
        self._code_at = now  # when the last fault was raised

    # ----------------------------------------------------------------- helpers
    def _emit(self, kind, code):
        i = self.ev_head % _RING
        self.ev_kind[i] = kind
        self.ev_code[i] = code
        self.ev_head += 1

    def _enter(self, phase, now):
        if phase != self.phase:
            self.phase = phase
            self._since = now
            self._emit(EV_PHASE, phase)

    def _set_relay(self, on, now):
        if on != self.relay:
            self.relay = on
            self._relay_at = now
            self._emit(EV_RELAY, 1 if on else 0)

    def _stop_offer(self, duty=DUTY_OFF):
        self.duty = duty
        self.offered_da = 0

    def _wants_charge(self):
        s = self.pilot.state
        return s == cp.C or (s == cp.D and self.cfg.ventilation)

    def _mains_ok(self):
        v = self.mains_dv
        return v < 0 or self.cfg.mains_min_dv <= v <= self.cfg.mains_max_dv

    def _too_hot(self):
        cfg = self.cfg
        return cfg.temp_sensor and (self.temp_dc >= cfg.temp_stop_dc or self.temp_dc == NO_READING)

    def _may_close_now(self):
        """Closing also needs the mains in range now (once closed, a dip is tolerated
        for mains_hold_ms), no voltage on the output yet (else it is welded), no file
        write under way and a pilot that is not changing (the guard opened the relay on
        its edge: the vehicle is leaving C)."""
        return (self._may_close() and self._mains_ok() and not self.flash_busy and
                not self.pilot.confirming() and not (self.out_live and self.cfg.relay_sense))

    def _may_offer(self):
        return (self.authorized and not self.showroom and not self.service_mode
                and not self.updating and not self.halted and self.arbiter.limit >= 60)

    def _may_close(self):
        """Every condition for keeping the relay closed. Any False opens it."""
        return (self._wants_charge() and self.selftest_ok and self._may_offer()
                and 800 <= self.duty <= 9700 and self.pilot.diode_ok
                and not self._too_hot() and not self.rcd_trip and self.pe_ok)

    def _offer(self, now):
        """Set the PWM duty for the arbiter's limit, at most one change per interval."""
        target = duty_from_da(self.arbiter.limit)
        if target != self.duty and (
                self.duty == DUTY_OFF or self.duty == DUTY_F or
                ticks_diff(now, self._duty_at) >= self.cfg.duty_interval_ms):
            self._prev_offer_da = self.offered_da
            self.duty = target
            self._duty_at = now
            self.offered_da = da_from_duty(target)

    def _raise(self, code, now):
        """Enter FAULT (or PERMANENT): relay open now, pilot to state F."""
        self._set_relay(False, now)
        self._stop_offer(DUTY_F)
        self.rcd_test = False
        self.fault = code
        self.last_fault = code
        self._code_at = now
        self._emit(EV_FAULT, code)
        self._enter(PERMANENT if faults.rule(code) == faults.PERMANENT else FAULT, now)

    def _start_session(self, now):
        self.selftest_ok = False
        self._woken = False
        self.car_paused = False
        self.vent_refused = False
        self._rcd_step = _RCD_START if self.cfg.rcd_present else _RCD_DONE
        self._enter(SELFTEST, now)

    def _end_session(self, now):
        self.retries = 0
        self.latched = False
        self.selftest_ok = False
        self._stop_offer()
        self._enter(IDLE, now)

    def _clear_fault(self):
        self._emit(EV_CLEARED, self.fault)
        self.fault = faults.NONE
        self._mains_bad = False

    # ------------------------------------------------------------ global checks
    def _safety(self, now):
        """Checks that apply in every phase; True if a fault was raised."""
        cfg = self.cfg
        sensed = cfg.relay_sense
        if self.out_live or not self.relay:
            self._dead_at = -1
        elif self._dead_at < 0:
            self._dead_at = now
        if not self.pe_ok:
            self._raise(faults.PROTECTIVE_EARTH, now)
            return True
        if sensed and not self.relay and self.out_live and \
                ticks_diff(now, self._relay_at) >= cfg.relay_check_ms:
            self._raise(faults.WELDED_RELAY, now)
            return True
        if self.phase == FAULT:
            return False
        if self.rcd_trip and not (self.phase == SELFTEST and self._rcd_step != _RCD_DONE):
            self._raise(faults.RESIDUAL_CURRENT, now)
            return True
        if self._too_hot():
            self._raise(faults.OVER_TEMPERATURE, now)
            return True
        if self._mains_ok():
            self._mains_bad = False
        elif not self._mains_bad:
            self._mains_bad = True
            self._mains_bad_at = now
        elif ticks_diff(now, self._mains_bad_at) >= cfg.mains_hold_ms:
            self._raise(faults.MAINS_VOLTAGE, now)
            return True
        s = self.pilot.state
        if (s == cp.E or s == cp.F or s == cp.INVALID) and self.phase != BOOT:
            self._raise(faults.IMPERMISSIBLE_LOAD, now)
            return True
        # Found dead for relay_check_ms while the vehicle still asks, and not while the
        # pilot is confirming a change: the relay guard's hard IRQ may have opened the
        # coil on unplug while no step ran (the interpreter stuck in C), so the steps
        # after see both at once.
        if sensed and self._dead_at >= 0 and self.mains_dv != 0 and self._wants_charge() \
                and not self.pilot.confirming() and \
                ticks_diff(now, self._dead_at) >= cfg.relay_check_ms:
            self._raise(faults.NO_OUTPUT_VOLTAGE, now)
            return True
        return False

    def _overcurrent(self, now):
        if self.current_da < 0 or not self.relay:
            self._over = False
            return False
        allowed = self.offered_da
        if ticks_diff(now, self._duty_at) < self.cfg.duty_interval_ms and \
                self._prev_offer_da > allowed:
            allowed = self._prev_offer_da  # the car has ~5 s to follow a reduction
        tol = allowed // 10
        if self.current_da <= allowed + (tol if tol > 20 else 20):
            self._over = False
            return False
        if not self._over:
            self._over = True
            self._over_at = now
            return False
        return ticks_diff(now, self._over_at) >= self.cfg.overcurrent_ms

    # -------------------------------------------------------------------- step
    def step(self, now):
        cfg = self.cfg
        arb = self.arbiter
        if not self._mains_ok():
            self._mains_good_at = now
        t = self.temp_dc
        if not cfg.temp_sensor or t <= cfg.temp_derate_dc:
            arb.clear(TEMPERATURE)
        else:
            arb.set(TEMPERATURE, derate_da(t, cfg.temp_derate_dc, cfg.temp_stop_dc,
                                           arb.claims[INSTALLATION]))
        arb.resolve()
        if self.relay and self.coil_open:  # opened under the core: closing is a new close
            self._set_relay(False, now)
        ph = self.phase
        if ph == PERMANENT:
            self._set_relay(False, now)
            self._stop_offer(DUTY_F)
            return
        if self._safety(now):
            return
        s = self.pilot.state
        blocked = self.service_mode or self.updating
        if ph == BOOT:
            if ticks_diff(now, self._since) >= cfg.boot_ms:
                self._enter(IDLE, now)
        elif ph == IDLE or ph == DISABLED:
            self._set_relay(False, now)
            self._stop_offer()
            if blocked:
                self._enter(DISABLED, now)
            elif ph == DISABLED:
                self._end_session(now)
            elif self.pilot.vehicle:
                self._start_session(now)
        elif ph == SELFTEST:
            self._selftest(now, blocked)
        elif ph == WAIT_AUTH:
            self._set_relay(False, now)
            self._stop_offer()
            if s == cp.A:
                self._end_session(now)
            elif blocked:
                self._enter(DISABLED, now)
            elif self.authorized:
                self._enter(READY, now)
        elif ph == READY:
            self._ready(now, blocked)
        elif ph == WAKEUP:
            if ticks_diff(now, self._since) >= cfg.wake_pulse_ms:
                self._stop_offer()  # offering again on the next step
                self._enter(READY, now)
        elif ph == CHARGING:
            self._charging(now)
        elif ph == SUSPENDED:
            self._suspended(now, blocked)
        elif ph == FAULT:
            self._in_fault(now)

    def _selftest(self, now, blocked):
        cfg = self.cfg
        self._stop_offer()
        if self.pilot.state == cp.A or blocked:
            self.rcd_test = False
            if blocked:
                self._enter(DISABLED, now)
            else:
                self._raise(faults.UNPLUGGED, now)
            return
        step = self._rcd_step
        if step == _RCD_START:
            self.rcd_test = True
            self._rcd_at = now
            self._rcd_step = _RCD_WAIT_TRIP
        elif step != _RCD_DONE:
            # the detector must trip while tested, then release
            if self.rcd_trip == (step == _RCD_WAIT_TRIP):
                self.rcd_test = False
                self._rcd_at = now
                self._rcd_step = step + 1
            elif ticks_diff(now, self._rcd_at) >= cfg.rcd_test_ms:
                self._raise(faults.RESIDUAL_CURRENT, now)
        elif ticks_diff(now, self._since) >= cfg.selftest_ms:
            self.selftest_ok = True
            self._enter(READY if self.authorized else WAIT_AUTH, now)

    def _ready(self, now, blocked):
        self._set_relay(False, now)
        s = self.pilot.state
        if s == cp.A:
            self._end_session(now)
            return
        if not self._may_offer():
            self._stop_offer()
            self._enter(WAIT_AUTH if not self.authorized or blocked else SUSPENDED, now)
            return
        self._offer(now)
        if self.duty != DUTY_OFF and not self.pilot.diode_ok:
            self._raise(faults.IMPERMISSIBLE_LOAD, now)
            return
        if s == cp.D and not self.cfg.ventilation:
            if not self.vent_refused:
                self.vent_refused = True
                self._emit(EV_VENT_REFUSED, 0)
            return
        self.vent_refused = False
        if self._may_close_now():
            self.car_paused = False
            self._set_relay(True, now)
            self._enter(CHARGING, now)
        elif s == cp.B and not self._woken and not self.car_paused and \
                ticks_diff(now, self._since) >= self.cfg.wake_after_ms:
            self._woken = True
            self._stop_offer(DUTY_F)
            self._emit(EV_WAKEUP, 0)
            self._enter(WAKEUP, now)

    def _charging(self, now):
        s = self.pilot.state
        if s == cp.A:  # gone under load, without passing B
            self._raise(faults.UNPLUGGED, now)
            return
        if not self.pilot.diode_ok:
            self._raise(faults.IMPERMISSIBLE_LOAD, now)
            return
        if self._overcurrent(now):
            self._raise(faults.OVERCURRENT, now)
            return
        if not self._may_offer():
            self._enter(SUSPENDED, now)
            self._suspended(now, self.service_mode or self.updating)
            return
        self._offer(now)
        if not self._may_close():
            # The car paused (C->B) or asked for D without ventilation: open now.
            self._set_relay(False, now)
            self.car_paused = s == cp.B
            self._enter(READY, now)
        elif not self.relay and self._may_close_now():  # the guard had opened it
            self._set_relay(True, now)

    def _suspended(self, now, blocked):
        self._stop_offer()
        if self.pilot.state == cp.A:
            if self.relay:
                self._raise(faults.UNPLUGGED, now)
            else:
                self._end_session(now)
            return
        if self.relay and (not self._wants_charge() or self.halted or
                           ticks_diff(now, self._since) >= self.cfg.suspend_open_ms):
            self._set_relay(False, now)
        if self.relay:
            return
        if self._may_offer():
            self._enter(READY, now)
        elif not self.authorized or blocked:
            self._enter(WAIT_AUTH, now)

    def _in_fault(self, now):
        cfg = self.cfg
        code = self.fault
        rule = faults.rule(code)
        self._set_relay(False, now)
        if ticks_diff(now, self._since) < cfg.fault_hold_ms:
            self._stop_offer(DUTY_F)
            return
        self._stop_offer()  # x1 again, so the pilot shows whether a vehicle is there
        s = self.pilot.state
        present = self.pilot.vehicle  # F still showing after the hold is no unplug
        if rule == faults.VEHICLE_GONE:
            if present:  # plugged in again: a new session
                self._clear_fault()
                self.retries = 0
                self.latched = False
                self._start_session(now)
            elif ticks_diff(now, self._code_at) >= cfg.fault_show_ms:
                self._clear_fault()
                self._end_session(now)
        elif rule == faults.CONDITION:
            if code == faults.OVER_TEMPERATURE:
                active = cfg.temp_sensor and (self.temp_dc >= cfg.temp_resume_dc or
                                              self.temp_dc == NO_READING)
            else:  # the mains must have stayed in range for mains_clear_ms
                active = ticks_diff(now, self._mains_good_at) < cfg.mains_clear_ms
            if not active:
                self._clear_fault()
                if present:
                    self._start_session(now)
                else:
                    self._end_session(now)
        elif s == cp.A:  # RETRY: unplugging acknowledges
            self._clear_fault()
            self._end_session(now)
        elif not self.latched and ticks_diff(now, self._since) >= cfg.retry_delay_ms:
            if self.retries >= cfg.max_retries:
                self.latched = True
            else:
                self.retries += 1
                self._emit(EV_RETRY, self.retries)
                self._clear_fault()
                self._start_session(now)

    # ------------------------------------------------------------------ status
    def status(self):
        ph = self.phase
        if ph == PERMANENT or (ph == FAULT and self.latched):
            return _ST_UNRECOVERABLE
        if ph == FAULT:
            return _ST_RECOVER
        if self.service_mode:
            return _ST_SERVICE
        if ph == IDLE or ph == BOOT or (ph == DISABLED and not self.pilot.vehicle):
            return _ST_PROGRAMMING if self.programming else _ST_IDLE
        if ph == CHARGING:
            return _ST_DEGRADED if self.arbiter.degrading() else _ST_CHARGING
        if ph == SUSPENDED or ph == DISABLED:
            return _ST_SUSPENDED
        return _ST_READY

    def phase_ms(self, now):
        """Time spent in the current phase."""
        return ticks_diff(now, self._since)
