"""Intelligent charging without a backend (docs/planning.md): the departure plan as the
arbiter's PLAN claim, the per-session energy and time limits (SESSION), the touch button
switching immediate <-> intelligent during a session, the charging-mode indicator, and
the price feed.

Twice a second `run()` follows the session: at plug-in the mode comes from
`plan.mode`; in intelligent mode the plan (core/planner.py) is made once the clock is
set, and made again when core says so (prices, limits, a slot boundary, a car drawing
less than planned). The departure and energy may be set for the running session by the
local API or MQTT (`set_session`); they end with the session and are never written to
flash. With the backend enabled, the backend owns the touch button and the indicator
(its mode and `forced`); the local plan yields to its schedule while it is online
(`Arbiter.backend_schedule`).

The core planner and the price feed's code are imported on first use.
"""
import asyncio
import time
from time import ticks_diff, ticks_ms

from micropython import const

from firmware.core import front, limits
from firmware.services.platform import datalog
from firmware.services.platform.log import ERROR, INFO

_EPOCH = 946684800 if time.gmtime(0)[0] == 2000 else 0
_CLOCK_OK = const(1735689600)  # 2025-01-01: a clock before this was never set
_FEED_MAX = const(16384)  # bytes of a price feed's body
_MINUTE_S = const(60)  # the price feed's refresh unit (a scaled test board shortens it)
_FEED_RETRY_MIN = const(5)  # after a failed fetch


def unix_now():
    """Unix seconds, or None while the clock was never set."""
    t = int(time.time()) + _EPOCH + datalog.clock_offset_s
    return t if t > _CLOCK_OK else None


class Planning:
    def __init__(self, app):
        self.app = app
        self.cfg = app.config
        self.intelligent = False  # this session's mode
        self.plan = None  # core.planner.Planner, made on first use
        self.prices = None  # core.planner.Prices
        self.depart = None  # Unix seconds of this session's departure (None: the setting's)
        self.want_wh = None  # this session's energy wanted (None: the setting's)
        self.state = "idle"  # idle, immediate, waiting (no clock), planned, done, limit
        self.feed_at = None  # Unix seconds of the last good price feed
        self.feed_error = ""
        self._count = 0  # the session followed (Session.count)
        self._plugged_at = 0
        self._limited = False
        self._table = None  # the tariff text the prices were made from
        self._feed_wake = asyncio.Event()
        app.panel.on_touch.append(self.touch)

    # ------------------------------------------------------------------ the session
    def _backend(self):
        return getattr(self.app, "backend", None)

    def _switchable(self):
        c = self.app.control.charger
        return self.app.sessions.now.plugged and c.authorized

    def touch(self):
        """The touch button: immediate <-> intelligent for this session (without a
        backend: with one, the backend's own touch handling switches its mode)."""
        if self._backend() is not None or not self._switchable():
            return
        self.set_mode(not self.intelligent, "touch button")

    def set_mode(self, intelligent, who):
        self.intelligent = intelligent
        if self.plan is not None:
            self.plan.made_ms = None  # plan now
        self.app.log.add(INFO, "%s: %s charging" % (who, "intelligent" if intelligent
                                                    else "immediate"))
        self.step()

    def set_session(self, depart=None, want_wh=None):
        """The running session's departure (Unix seconds) and energy (Wh)."""
        if depart is not None:
            self.depart = depart
        if want_wh is not None:
            self.want_wh = want_wh
        if self.plan is not None:
            self.plan.made_ms = None
        self.step()

    def request(self, d, who):
        """The local API's and MQTT's settings for the running session: {"mode":
        "immediate"|"intelligent", "departure": "HH:MM" (local, the next one) or Unix
        seconds (within 48 h), "energy_kwh": number, "km": number}, each optional.
        Raises ValueError((status, reason)); nothing is applied on any error."""
        if not isinstance(d, dict) or not d:
            raise ValueError(400, "expected an object with mode, departure, energy_kwh or km")
        if not self.app.sessions.now.plugged:
            raise ValueError(409, "no vehicle connected: the plan applies to a running session")
        mode = d.get("mode")
        if mode not in (None, "immediate", "intelligent"):
            raise ValueError(400, "mode: immediate or intelligent")
        depart = d.get("departure")
        now = unix_now()
        if depart is not None:
            if now is None:
                raise ValueError(409, "the clock is not set: no departure yet")
            if isinstance(depart, str) and len(depart) == 5 and depart[2] == ":" and \
                    depart[:2].isdigit() and depart[3:].isdigit() and \
                    int(depart[:2]) < 24 and int(depart[3:]) < 60:
                planner = self._make()
                self._offset(planner, now)
                depart = planner.next_local(now, int(depart[:2]) * 60 + int(depart[3:]),
                                            self.prices.std_offset_s, self.prices.dst)
            elif isinstance(depart, bool) or not isinstance(depart, int) or \
                    not now < depart <= now + 48 * 3600:
                raise ValueError(400, "departure: HH:MM or Unix seconds within 48 h")
        want = None
        for key, scale in (("energy_kwh", 1000), ("km", self.cfg.get("plan.wh_per_km"))):
            v = d.get(key)
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= 2000:
                raise ValueError(400, "%s: a number above 0" % key)
            want = int(v * scale + 0.5)
        for k in d:
            if k not in ("mode", "departure", "energy_kwh", "km"):
                raise ValueError(400, "unknown field: " + k)
        if mode is not None and (mode == "intelligent") != self.intelligent:
            self.intelligent = mode == "intelligent"
        self.app.log.add(INFO, "%s: %s charging%s%s" % (
            who, "intelligent" if self.intelligent else "immediate",
            "" if depart is None else ", departure set",
            "" if want is None else ", %d Wh wanted" % want))
        self.set_session(depart, want)

    def _departure(self, now):
        """The next departure: this session's, else the next plan.departure_min."""
        if self.depart is not None:
            return self.depart
        from firmware.core.planner import next_local
        p = self.prices
        return next_local(now, self.cfg.get("plan.departure_min"), p.std_offset_s, p.dst)

    def _wanted(self):
        if self.want_wh is not None:
            return self.want_wh
        from firmware.core.planner import wanted_wh
        c = self.cfg
        return wanted_wh(c.get("plan.energy_kwh") * 10, c.get("plan.km"), c.get("plan.wh_per_km"))

    def _make(self):
        from firmware.core import planner
        if self.plan is None:
            self.plan = planner.Planner()
            self.prices = planner.Prices()
        return planner

    def _offset(self, planner, now):
        p = self.prices
        p.std_offset_s = self.cfg.get("time.utc_offset_min") * 60
        p.dst = planner.DST_EU if self.cfg.get("plan.dst") == "eu" else planner.DST_NONE
        text = self.cfg.get("plan.tariff")
        if text != self._table:
            self._table = text
            p.set_table(planner.parse_table(text, True) if text else [])
        return planner.local_offset_s(now, p.std_offset_s, p.dst)

    def step(self):
        """Follow the session; set PLAN and SESSION; the indicator. Never raises on
        the settings: they were validated when saved."""
        app = self.app
        arb = app.arbiter
        s = app.sessions.now
        now_ms = ticks_ms()
        if s.count != self._count:  # a new session: the defaults again
            self._count = s.count
            self._plugged_at = now_ms
            self.intelligent = self.cfg.get("plan.mode") == "intelligent"
            self.depart = self.want_wh = None
            self._limited = False
            if self.plan is not None:
                self.plan.made_ms = None
        if not s.plugged:
            arb.clear(limits.PLAN)
            arb.clear(limits.SESSION)
            self.state = "idle"
            self._indicate()
            return
        # per-session limits: energy and time since plug-in
        kwh = self.cfg.get("session.max_kwh")
        mins = self.cfg.get("session.max_min")
        over = (kwh > 0 and s.wh >= kwh * 1000) or \
            (mins > 0 and ticks_diff(now_ms, self._plugged_at) >= mins * 60000)
        if over != self._limited:
            self._limited = over
            if over:
                app.log.add(INFO, "session limit reached: charging ended")
        arb.set(limits.SESSION, 0 if over else None)
        b = self._backend()
        if not self.intelligent or (b is not None and b.forced):
            arb.clear(limits.PLAN)
            self.state = "immediate"
            self._indicate()
            return
        now = unix_now()
        if now is None:  # no clock, no plan: the least current until there is one
            arb.set(limits.PLAN, self.cfg.get("plan.min_a") * 10)
            self.state = "waiting"
            self._indicate()
            return
        planner = self._make()
        offset = self._offset(planner, now)
        plan = self.plan
        top = app.max_app_da()
        app_da = arb.claims[limits.APP]
        top = app_da if app_da < top else top
        depart = self._departure(now)
        if now >= depart:  # past the departure and still plugged: as fast as allowed
            arb.clear(limits.PLAN)
            self.state = "departed"
            self._indicate()
            return
        if plan.due(now, now_ms, s.wh, self.prices.rev, top) or plan.depart != depart:
            windows = planner.parse_table(self.cfg.get("plan.windows"), False)
            c = self.cfg
            plan.plan(now, depart, self._wanted() - s.wh, top, c.get("charging.phases"),
                      self._volts(), self.prices, windows, offset, now_ms, s.wh,
                      c.get("plan.min_a") * 10)
        arb.set(limits.PLAN, plan.claim(now))
        self.state = "done" if s.wh >= self._wanted() else "planned"
        self._indicate()

    def _volts(self):
        dv = self.app.control.charger.mains_dv
        return dv // 10 if dv > 1500 else 230

    def _indicate(self):
        if self._backend() is not None:
            return  # the backend shows its own mode
        f = self.app.panel.front
        f.touch = front.WHITE if self._switchable() else front.OFF
        st = self.state
        f.charge_mode = front.WAITING_SCHEDULE if st == "waiting" else \
            front.INTELLIGENT if st in ("planned", "done") else front.IMMEDIATE

    async def run(self):
        try:
            while True:
                self.step()
                await asyncio.sleep_ms(500)  # within the self-test at plug-in
        finally:  # stopped or crashed: no stale claims
            self.app.arbiter.clear(limits.PLAN)
            self.app.arbiter.clear(limits.SESSION)

    # ---------------------------------------------------------------- the status
    def status(self):
        """For the status API and MQTT: the mode, and the plan as a timeline of runs
        [start (Unix s), end, current (A), price] with its expected cost and completion."""
        out = {"mode": "intelligent" if self.intelligent else "immediate",
               "state": self.state, "feed_at": self.feed_at, "feed_error": self.feed_error}
        p = self.plan
        if p is None or not self.intelligent or self.state not in ("planned", "done"):
            return out
        from firmware.core.planner import PRICE_SCALE
        runs = []
        for i in range(p.n):
            b, e = p.slot_bounds(i)
            price = p.price[i] / PRICE_SCALE
            on = b + p.on_s[i]
            for begin, end, a in ((b, on, p.da[i] / 10), (on, e, 0)):
                if begin >= end:
                    continue
                last = runs[-1] if runs else None
                if last is not None and last[1] == begin and last[2] == a and last[3] == price:
                    last[1] = end
                else:
                    runs.append([begin, end, a, price])
        out.update({"departure": p.depart, "need_wh": p.need, "missing_wh": p.missing,
                    "cost": p.cost / PRICE_SCALE / 1000, "prices_known": p.known,
                    "complete_at": p.done_at or None, "timeline": runs})
        return out

    # ------------------------------------------------------------------ price feed
    async def feed(self):
        """Fetch the price feed (price.url) every price.refresh_min, without blocking;
        the last good prices stay in use when a fetch fails."""
        while True:
            url = self.cfg.get("price.url")
            if not url:
                self._feed_wake.clear()
                try:
                    await asyncio.wait_for(self._feed_wake.wait(), _MINUTE_S)
                except asyncio.TimeoutError:
                    pass
                continue
            try:
                await self.fetch(url)
                pause = self.cfg.get("price.refresh_min") * _MINUTE_S
            except Exception as e:  # noqa: BLE001 - a feed never halts charging (a crash would)
                reason = str(e) or repr(e)
                if reason != self.feed_error:
                    self.app.log.add(ERROR, "price feed: %s" % reason)
                self.feed_error = reason
                pause = _FEED_RETRY_MIN * _MINUTE_S
            self._feed_wake.clear()
            try:
                await asyncio.wait_for(self._feed_wake.wait(), pause)
            except asyncio.TimeoutError:
                pass

    async def fetch(self, url):
        from firmware.services.net.websocket import close_stream, open_stream, parse_url, read_head
        secure, host, port, path = parse_url(url)
        s = await open_stream(host, port, secure, timeout_ms=10000)
        try:
            s.write(("GET %s HTTP/1.0\r\nHost: %s\r\nAccept: application/json\r\n\r\n" %
                     (path, host)).encode())
            await s.drain()
            status, head = await asyncio.wait_for_ms(read_head(s), 10000)
            if status != 200:
                raise OSError("HTTP %d" % status)
            body = bytearray()
            while True:
                chunk = await asyncio.wait_for_ms(s.read(1024), 10000)
                if not chunk:
                    break
                body += chunk
                if len(body) > _FEED_MAX:
                    raise ValueError("more than %d bytes" % _FEED_MAX)
        finally:
            await close_stream(s)
        self.take(body)

    def take(self, body):
        """Use a feed's JSON ({"start": RFC 3339, "interval_min": 15|60, "prices": [...]})
        or raise ValueError with the reason; the previous prices stay otherwise."""
        import json
        from array import array

        from firmware.core.ocpp import to_unix
        planner = self._make()
        try:
            d = json.loads(body)
        except ValueError:
            raise ValueError("not JSON")
        if not isinstance(d, dict):
            raise ValueError("expected an object")
        start = to_unix(d.get("start")) if isinstance(d.get("start"), str) else None
        step = d.get("interval_min")
        values = d.get("prices")
        if start is None or start % 900:
            raise ValueError("start: an RFC 3339 time on a quarter-hour")
        if step not in (15, 60):
            raise ValueError("interval_min: 15 or 60")
        if not isinstance(values, list) or not 0 < len(values) <= planner.MAX_SLOTS:
            raise ValueError("prices: a list of 1 to %d numbers" % planner.MAX_SLOTS)
        out = array("l", [0] * len(values))
        for i, v in enumerate(values):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not -100 < v < 100:
                raise ValueError("prices[%d]: a number (currency per kWh)" % i)
            out[i] = int(v * planner.PRICE_SCALE + (0.5 if v >= 0 else -0.5))
        self.prices.set_feed(start, step * 60, out)
        self.feed_at = unix_now()
        if self.feed_error:
            self.app.log.add(INFO, "price feed back")
        self.feed_error = ""
        self.app.log.add(INFO, "price feed: %d prices from %s" % (len(values), d["start"]))
