"""Energy meters at work: polls the domestic connection (grid) meter and the solar
meter and turns their readings into the arbiter's LOAD, METER_FALLBACK and SOLAR claims,
the meter-lost indicator (S1+S2 slow orange) and log entries; "Test Connection".

Imported by services/metering/service.py only once a meter or a solar mode is switched on, with
the Modbus driver and the load logic: a box without meters does not pay their RAM.
Settings are read on every poll, so a change on the web pages applies within a poll.
"""
import asyncio
from time import ticks_diff, ticks_ms

from firmware.core import limits
from firmware.core import loadmgmt as _lm
from firmware.core import meters as _mt
from firmware.drivers import modbus as _mb
from firmware.services.platform.log import ERROR, INFO


class Meter:
    """One configured meter: its Modbus client, model and latest reading."""

    def __init__(self, client, plan, unit, error=None):
        self.client = client
        self.plan = plan
        self.unit = unit
        self.vals = [None] * 12
        self.buf = bytearray(plan.nbytes if plan else 0)
        self.ok = False  # the latest poll gave a usable reading
        self.error = error  # why not: a Modbus reason or "wrong model (field)"
        self.rejected = 0  # readings refused as impossible
        self.good_at = ticks_ms()

    async def poll(self, force=False):
        p = self.plan
        self.ok = False
        if self.client is None:
            return False
        n = 0
        try:
            for start, count in p.blocks:
                data = await self.client.read(self.unit, p.fc, start, count, force)
                self.buf[n:n + 2 * count] = data
                n += 2 * count
        except _mb.ModbusError as e:
            self.error = e.args[0]
            return False
        except OSError as e:  # the UART itself failed
            self.error = "io %s" % e
            return False
        v = p.decode(self.buf, self.vals)
        k = 0
        for i in range(12):  # NaN / infinity where the model has a register
            if v[i] is None and p.offsets[i] >= 0:
                k = i + 1
        k = k or _lm.plausible(self.vals)
        if k:
            self.rejected += 1
            self.error = "wrong model (%s)" % _mt.FIELDS[k - 1]
            return False
        self.ok = True
        self.error = None
        self.good_at = ticks_ms()
        return True


class Metering:
    def __init__(self, app):
        self.app = app
        self.grid = None
        self.solar = None
        self.load = None  # core.loadmgmt.Load of the grid meter
        self.sun = None  # core.loadmgmt.Solar
        self.lock = asyncio.Lock()  # one exchange at a time per bus (poll, test)
        self.car = [0, 0, 0]  # the car's draw per phase, 0.1 A, after the last poll
        self._car0 = [0, 0, 0]  # ... before it (then the least of the two and _prev)
        self._prev = [0, 0, 0]  # ... after the poll before
        self._sig = None
        self._uart = None
        self._de = None
        self._solar_lost = False
        self._reported = None  # the error last written to the log
        self.capacity = None  # core.capacity.Capacity while the capacity tariff is on

    def _build(self, pre, c):
        """A Meter for settings prefix "meter." or "solar."."""
        try:
            plan = _mt.plan(c[pre + "model"], c["meter.custom"])
        except ValueError:
            return Meter(None, None, 0, "model")
        t = c["meter.timeout_ms"]
        if pre == "meter." and c["meter.transport"] == "rtu":
            b = self.app.board
            try:
                if self._uart is None:
                    from machine import UART, Pin
                    self._uart = UART(b.UART_ID, baudrate=c["meter.baud"], tx=b.UART_TX,
                                      rx=b.UART_RX)
                    self._de = None if b.RS485_DE is None else \
                        Pin(b.RS485_DE, Pin.OUT, value=0)
                else:
                    self._uart.init(baudrate=c["meter.baud"])
            except (AttributeError, OSError, ValueError):  # no RS485 on this board
                return Meter(None, plan, 0, "rs485")
            client = _mb.Rtu(self._uart, self._de, c["meter.baud"], t)
        elif not c[pre + "host"]:
            return Meter(None, plan, 0, "no address")
        else:
            client = _mb.Tcp(c[pre + "host"], c[pre + "port"], t)
        return Meter(client, plan, c[pre + "address"])

    def _signature(self, c):
        """The settings the running meters were built from."""
        return (c["meter.enabled"], c["meter.transport"], c["meter.model"], c["meter.host"],
                c["meter.port"], c["meter.address"], c["meter.baud"], c["meter.custom"],
                c["meter.timeout_ms"], c["solar.enabled"], c["solar.model"], c["solar.host"],
                c["solar.port"], c["solar.address"], c["charging.mode"] != "immediate")

    def _configure(self, c, now):
        sig = self._signature(c)
        if sig == self._sig:
            return
        self._sig = sig
        for m in (self.grid, self.solar):
            if m is not None and m.client is not None:
                m.client.close()
        self.grid = self.solar = self.load = self.sun = None
        if not (sig[0] or sig[9] or sig[14]):
            self._clear()
            return
        if sig[0]:
            self.grid = self._build("meter.", c)
            self.load = _lm.Load(now)
        if sig[9]:
            self.solar = self._build("solar.", c)
        self.sun = _lm.Solar(now)

    def _clear(self):
        a = self.app.arbiter
        a.clear(limits.LOAD)
        a.clear(limits.METER_FALLBACK)
        a.clear(limits.SOLAR)
        a.clear(limits.CAPACITY)
        self.capacity = None
        self.app.panel.front.meter_lost = False

    async def run(self):
        try:
            while True:
                c = self.app.config.values
                t0 = ticks_ms()
                self._configure(c, t0)
                if self.grid is not None or self.solar is not None:
                    self._car(self._car0, c)
                    async with self.lock:
                        if self.grid is not None:
                            await self.grid.poll()
                        if self.solar is not None:
                            await self.solar.poll()
                if self.sun is not None:
                    self._apply(c, ticks_ms())
                left = c["meter.poll_ms"] - ticks_diff(ticks_ms(), t0)
                await asyncio.sleep_ms(left if left > 50 else 50)
        finally:  # stopped or crashed: no stale claims (the supervisor restarts us)
            self._sig = None
            self._clear()

    def _car(self, out, c):
        """The car's own draw per phase as measured. A board that cannot measure it counts
        it as 0: the car's draw then looks like house load, which understates the headroom
        (the fuse stays safe; the car may pause and resume) - assuming it drew what it is
        offered would overstate the headroom whenever it draws less."""
        ctl = self.app.control
        for p in range(3):
            d = ctl.phase_da[p]
            out[p] = d if d >= 0 else 0

    def _apply(self, c, now):
        app = self.app
        arb = app.arbiter
        car = self.car
        self._car(car, c)
        still = _lm.settled(self._prev, self._car0, car)
        self._prev[:] = car
        g = self.grid
        ld = self.load
        if g is not None:
            was = ld.lost
            if g.ok:
                ld.feed(now, _lm.headroom(c["house.fuse_a"] * 10, g.vals, self._car0), still)
            ld.lost_ms = c["meter.lost_s"] * 1000
            ld.resume_ms = c["house.resume_s"] * 1000
            lost = ld.step(now)
            if lost != was:
                app.log.add(ERROR if lost else INFO, "meter lost: %s" % g.error if lost
                            else "meter back")
            elif not g.ok and g.error != self._reported and g.error.startswith("wrong"):
                app.log.add(ERROR, "meter reading rejected: " + g.error)
            self._reported = g.error
            app.panel.front.meter_lost = lost
            arb.set(limits.LOAD, None if lost else ld.claim)
            arb.set(limits.METER_FALLBACK, ld.claim if lost else None)
            self._capacity(c, g, now)
        s = self.solar
        if s is not None:
            lost = ticks_diff(now, s.good_at) >= c["meter.lost_s"] * 1000
            if lost != self._solar_lost:
                self._solar_lost = lost
                app.log.add(ERROR if lost else INFO, "solar meter lost: %s" % s.error if lost
                            else "solar meter back")
        mode = _lm.MODES.index(c["charging.mode"])
        was = self.sun.running
        arb.set(limits.SOLAR, self.sun.update(
            now, mode, _lm.surplus(g.vals if g is not None and g.ok else None, car,
                                   c["charging.phases"],
                                   s.vals[_mt.PT] if s is not None and s.ok else None),
            c["solar.start_s"] * 1000, c["solar.stop_s"] * 1000))
        if mode == _lm.SOLAR and self.sun.running != was:
            app.log.add(INFO, "solar charging " + ("started" if self.sun.running else "stopped"))

    def _capacity(self, c, g, now):
        """Capacity tariff: the CAPACITY claim from the grid's import (a lost meter keeps
        the last claim, under the 10 A fallback; a gap forgets the history)."""
        arb = self.app.arbiter
        if not c["capacity.enabled"]:
            self.capacity = None
            arb.clear(limits.CAPACITY)
            return
        if self.capacity is None or self.capacity.limit_w != c["capacity.limit_w"]:
            from firmware.core.capacity import Capacity
            self.capacity = Capacity(c["capacity.limit_w"], now)
        if g.ok and g.vals[_mt.PT] is not None:
            dv = self.app.control.charger.mains_dv
            unit = (dv // 10 if dv > 1500 else 230) * c["charging.phases"]
            arb.set(limits.CAPACITY, self.capacity.update(
                g.vals[_mt.PT], self.app.sessions.watts(), unit, limits.NO_LIMIT - 1, now))

    async def test_connection(self, which="grid"):
        """Read the configured meter ("grid" or "solar") once, now, ignoring any backoff.
        Returns {"ok": True, "values": {field: value}} or {"ok": False, "error": reason}.
        Right after a Save the running meter still has the old settings until its next
        poll: then a meter of its own, built from exactly the settings saved."""
        c = self.app.config.values
        m = self.grid if which == "grid" else self.solar
        own = m is None or self._sig != self._signature(c)
        if own:
            m = self._build("meter." if which == "grid" else "solar.", c)
        try:
            async with self.lock:
                ok = await m.poll(True)
        finally:
            if own and m.client is not None:
                m.client.close()
        if not ok:
            return {"ok": False, "error": m.error}
        return {"ok": True, "values": dict(zip(_mt.FIELDS, m.vals))}
