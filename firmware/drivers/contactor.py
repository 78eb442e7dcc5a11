"""The contactor path: the mains relay with sensing of its output side, its keep-alive
and hard-interrupt guard, and the 6 mA DC residual-current detector (RDC-DD, IEC 62955)
that must be able to open it at once.

The coil pin is driven active-high; boot.py has already driven it low. The coil driver
is enabled only while the keep-alive pin toggles (a retriggerable monostable,
docs/hardware.md): the control tick pulses it while the core commands the relay closed,
so a tick that stops running (the interpreter stuck in one C call) drops the relay
within the circuit's drop-out time. The sense input (an optocoupler on the output side)
tells whether voltage is present there, which is how a welded relay (8007) or a relay
that does not close (8001) is found. The detector's trip line raises an interrupt that
opens the coil directly, without waiting for any task or for the control tick, and
latches the trip for the tick to see. The detector should also break the coil in
hardware; this is the firmware's second path.

Hard interrupts depend on the port (docs/hardware.md): the RP2040 has hard timers and
hard pin interrupts, the ESP32 port neither (its pin IRQs take no `hard` argument, its
timers refuse hard=True). Where a hard one is refused the soft one is used, and the
guard does nothing.
"""
from time import ticks_diff, ticks_ms

from machine import Pin, Timer
from micropython import const

from firmware.core.guard import guard_opens

_GUARD_PERIOD_MS = const(2)


def _irq(pin, handler, trigger):
    """A hard pin interrupt where the port has one (True), else a soft one (False)."""
    try:
        pin.irq(handler=handler, trigger=trigger, hard=True)
        return True
    except (TypeError, ValueError):
        pin.irq(handler=handler, trigger=trigger)
        return False


class Relay:
    def __init__(self, coil, sense=None, sense_active_low=True, keepalive=None):
        self._coil = coil
        self._sense = sense
        self._live = 0 if sense_active_low else 1
        self._keepalive = keepalive
        self.closed = False
        self.pulsed_at = ticks_ms()  # the last keep-alive pulse (the guard reads it)
        coil.value(0)
        if keepalive is not None:
            keepalive.value(0)

    def set(self, closed):
        if closed != self.closed:
            if closed:
                self.pulsed_at = ticks_ms()  # first, for the guard: a fresh closing
            self.closed = closed
            self._coil.value(1 if closed else 0)

    def pulse(self, now):
        """Toggle the keep-alive while closed (every control tick; allocates nothing).
        Whoever holds the relay closed without the tick (diag.relay) pulses it too."""
        if self.closed:
            self.pulsed_at = now
            k = self._keepalive
            if k is not None:
                k.value(1 - k.value())

    def open(self):
        """Open now, whatever the bookkeeping says (safe from any context)."""
        self._coil.value(0)
        self.closed = False

    def output_live(self):
        return self._sense is not None and self._sense.value() == self._live


class ResidualCurrentDetector:
    def __init__(self, trip, test, coil, trip_active_high=True):
        self._trip = trip
        self._test = test
        self._coil = coil
        self._active = 1 if trip_active_high else 0
        self.latched = False
        test.value(0)
        _irq(trip, self._on_trip, Pin.IRQ_RISING if trip_active_high else Pin.IRQ_FALLING)

    def _on_trip(self, _pin):
        # Hard IRQ where the port has one: no allocation, no printing. Opens the coil.
        self._coil.value(0)
        self.latched = True

    def tripped(self):
        """Trip line active now or since the last call (then the latch is cleared)."""
        t = self.latched or self._trip.value() == self._active
        self.latched = False
        return t

    def set_test(self, on):
        self._test.value(1 if on else 0)

    def deinit(self):
        self._trip.irq(handler=None)


class Guard:
    """Opens the relay from hard interrupts, without the control tick: on the pilot
    comparator's rising edge (the vehicle left state C/D) and from a hard timer (that
    edge missed, or the keep-alive pulses stopped for `limit` ms: the tick stopped).
    The rule is core/guard.py. Runs while the control loop runs (Control.start/stop):
    the technician's relay test closes the relay in state A with the loop stopped."""

    def __init__(self, relay, comparator, limit, timer_id):
        self.relay = relay
        self._comparator = comparator
        self.limit = limit  # ms without a keep-alive pulse: the board's KEEPALIVE_MS
        self.timer_id = timer_id
        self._timer = None
        self.hard = False  # something runs in hard interrupt context

    def start(self):
        c = self._comparator
        hard = c is not None and _irq(c, self._check, Pin.IRQ_RISING)
        if c is not None and not hard:
            c.irq(handler=None)  # soft, it would run no sooner than the tick
        t = Timer(self.timer_id)
        try:
            t.init(mode=Timer.PERIODIC, period=_GUARD_PERIOD_MS, callback=self._check,
                   hard=True)
            self._timer = t
            hard = True
        except (TypeError, ValueError):
            t.deinit()
        self.hard = hard

    def stop(self):
        if self._timer is not None:
            self._timer.deinit()
            self._timer = None
        if self._comparator is not None:
            self._comparator.irq(handler=None)
        self.hard = False

    def _check(self, _pin):
        # Hard IRQ: no allocation (few locals: the frame stays on the C stack).
        c = self._comparator
        r = self.relay
        if guard_opens(r.closed, c is not None and c.value() == 1,
                       ticks_diff(ticks_ms(), r.pulsed_at), self.limit):
            r.open()
