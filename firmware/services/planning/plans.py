"""Intelligent charging's plan (docs/planning.md), imported by service.py on first use:
the departure plan as the arbiter's PLAN claim (core/planner.py), made again when core
says so (new prices, a changed limit, a quarter-hour, a car drawing less than planned);
the local API's and MQTT's requests for the running session (never written to flash);
the price feed (an HTTP(S) GET that never blocks; the last good prices are kept).
"""
import asyncio

from micropython import const

from firmware.core import limits
from firmware.core import planner
from firmware.services.platform.log import ERROR, INFO

_MINUTE_S = const(60)  # the price feed's refresh unit (a scaled test board shortens it)
_FEED_RETRY_MIN = const(5)  # after a failed fetch
_FEED_MAX = const(16384)  # bytes of a price feed's body


class Plans:
    def __init__(self, owner):
        self.owner = owner  # follow.Follow: the session's mode, departure, energy
        self.app = owner.app
        self.cfg = owner.cfg
        self.plan = planner.Planner()
        self.prices = planner.Prices()
        self.feed_at = None  # Unix seconds of the last good price feed
        self.feed_error = ""
        self._table = None  # the tariff text the prices were made from
        self._feed_wake = asyncio.Event()

    def apply(self, now, now_ms, s):
        """Set the PLAN claim for Unix time `now` (plan first if due); the state."""
        arb = self.app.arbiter
        offset = self._offset(now)
        plan = self.plan
        top = self.app.max_app_da()
        app_da = arb.claims[limits.APP]
        top = app_da if app_da < top else top
        depart = self._departure(now)
        if now >= depart:  # past the departure and still plugged: as fast as allowed
            arb.clear(limits.PLAN)
            return "departed"
        if plan.due(now, now_ms, s.wh, self.prices.rev, top) or plan.depart != depart:
            windows = planner.parse_table(self.cfg.get("plan.windows"), False)
            c = self.cfg
            plan.plan(now, depart, self._wanted() - s.wh, top, c.get("charging.phases"),
                      self._volts(), self.prices, windows, offset, now_ms, s.wh,
                      c.get("plan.min_a") * 10)
        arb.set(limits.PLAN, plan.claim(now))
        return "done" if s.wh >= self._wanted() else "planned"

    def _volts(self):
        dv = self.app.control.charger.mains_dv
        return dv // 10 if dv > 1500 else 230

    def request(self, d, who):
        """The local API's and MQTT's settings for the running session: {"mode":
        "immediate"|"intelligent", "departure": "HH:MM" (local, the next one) or Unix
        seconds (within 48 h), "energy_kwh": number, "km": number}, each optional.
        Raises ValueError((status, reason)); nothing is applied on any error."""
        if not isinstance(d, dict) or not d:
            raise ValueError(400, "expected an object with mode, departure, energy_kwh or km")
        o = self.owner
        if not self.app.sessions.now.plugged:
            raise ValueError(409, "no vehicle connected: the plan applies to a running session")
        mode = d.get("mode")
        if mode not in (None, "immediate", "intelligent"):
            raise ValueError(400, "mode: immediate or intelligent")
        depart = d.get("departure")
        now = self.owner.clock()
        if depart is not None:
            if now is None:
                raise ValueError(409, "the clock is not set: no departure yet")
            if isinstance(depart, str) and len(depart) == 5 and depart[2] == ":" and \
                    depart[:2].isdigit() and depart[3:].isdigit() and \
                    int(depart[:2]) < 24 and int(depart[3:]) < 60:
                self._offset(now)
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
        if mode is not None:
            o.intelligent = mode == "intelligent"
        self.app.log.add(INFO, "%s: %s charging%s%s" % (
            who, "intelligent" if o.intelligent else "immediate",
            "" if depart is None else ", departure set",
            "" if want is None else ", %d Wh wanted" % want))
        o.set_session(depart, want)

    def _departure(self, now):
        """The next departure: this session's, else the next plan.departure_min."""
        if self.owner.depart is not None:
            return self.owner.depart
        p = self.prices
        return planner.next_local(now, self.cfg.get("plan.departure_min"), p.std_offset_s, p.dst)

    def _wanted(self):
        if self.owner.want_wh is not None:
            return self.owner.want_wh
        c = self.cfg
        return planner.wanted_wh(c.get("plan.energy_kwh") * 10, c.get("plan.km"),
                                 c.get("plan.wh_per_km"))

    def _offset(self, now):
        p = self.prices
        p.std_offset_s = self.cfg.get("time.utc_offset_min") * 60
        p.dst = planner.DST_EU if self.cfg.get("plan.dst") == "eu" else planner.DST_NONE
        text = self.cfg.get("plan.tariff")
        if text != self._table:
            self._table = text
            p.set_table(planner.parse_table(text, True) if text else [])
        return planner.local_offset_s(now, p.std_offset_s, p.dst)

    # ---------------------------------------------------------------- the status
    def describe(self, out):
        """Add the feed's state and, while a plan runs, the plan as a timeline of runs
        [start (Unix s), end, current (A), price] with its expected cost and completion."""
        out["feed_at"] = self.feed_at
        out["feed_error"] = self.feed_error
        p = self.plan
        if not self.owner.intelligent or out["state"] not in ("planned", "done") or \
                p.made_ms is None:
            return
        scale = planner.PRICE_SCALE
        runs = []
        for i in range(p.n):
            b, e = p.slot_bounds(i)
            price = p.price[i] / scale
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
                    "cost": p.cost / scale / 1000, "prices_known": p.known,
                    "complete_at": p.done_at or None, "timeline": runs})

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
        from firmware.services.net.websocket import close_stream, open_stream, parse_url, \
            read_head
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
        self.feed_at = self.owner.clock()
        if self.feed_error:
            self.app.log.add(INFO, "price feed back")
        self.feed_error = ""
        self.app.log.add(INFO, "price feed: %d prices from %s" % (len(values), d["start"]))
