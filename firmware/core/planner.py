"""Departure planning on the box (intelligent charging without a backend): which
quarter-hours to charge in, and at what current, to deliver the energy wanted by the
departure at the lowest cost; when that cannot be done, as fast as allowed, and how much
will be missing (docs/planning.md).

Pure: wall-clock time comes in as Unix seconds (UTC), the re-plan timer as ticks_ms.
Prices are integers in PRICE_SCALE parts of the currency per kWh, energy in Wh,
currents in 0.1 A as everywhere in the core. The slot arrays are allocated once; a plan
allocates nothing but the sort's loop variables, and the control tick never calls it.

The energy of each slot may be anything from 0 to what the slot's maximum current
gives: below the minimum current (6 A) the slot charges at the minimum for part of the
slot. That makes cost-optimal planning a fractional knapsack, which filling the
cheapest slots first solves exactly (ties: the earlier slot).
"""
from array import array

from micropython import const

from firmware.core import civil
from firmware.core.ticks import ticks_diff

SLOT_S = const(900)  # quarter-hour slots, aligned to UTC quarter-hours
MAX_SLOTS = const(192)  # 48 h ahead
PRICE_SCALE = const(100000)  # prices: 1/100000 of the currency per kWh
MIN_DA = const(60)  # the pilot's minimum offer (IEC 61851: 6 A)
_REPLAN_MIN_MS = const(30000)  # re-plan no more often than this (a flapping input)
_LAG_WH = const(200)  # the car drew this much less than planned: re-plan
_DAYS = ("mo", "tu", "we", "th", "fr", "sa", "su")

# Local time: the tariff table and the allowed windows are in local wall-clock time.
DST_NONE = const(0)
DST_EU = const(1)  # last Sunday of March 01:00 UTC .. last Sunday of October 01:00 UTC


def _last_sunday_s(y, m, d_last):
    day = civil.days(y, m, d_last)
    return (day - (day + 4) % 7) * 86400  # (day + 4) % 7: days since the Sunday


def local_offset_s(t, std_offset_s, dst):
    """Local time minus UTC at Unix time `t`."""
    if dst == DST_EU:
        y = 1970 + t // 31556952  # the mean Gregorian year: off by one near New Year
        if civil.days(y + 1, 1, 1) * 86400 <= t:
            y += 1
        elif civil.days(y, 1, 1) * 86400 > t:
            y -= 1
        if _last_sunday_s(y, 3, 31) + 3600 <= t < _last_sunday_s(y, 10, 31) + 3600:
            return std_offset_s + 3600
    return std_offset_s


def next_local(now, minute, std_offset_s, dst):
    """Unix time of the next local `minute` of the day after `now` (a departure), with
    the offset that holds then (a departure across a clock change stays at its hour)."""
    off = local_offset_s(now, std_offset_s, dst)
    local = now + off
    t = local - local % 86400 + minute * 60 - off
    if t <= now:
        t += 86400
    return t + off - local_offset_s(t, std_offset_s, dst)


def weekday_minute(t, offset_s):
    """(weekday 0 = Monday, minute of the day) in local time."""
    lt = t + offset_s
    return (lt // 86400 + 3) % 7, lt % 86400 // 60


# ------------------------------------------------------------------ weekly tables
def parse_table(text, priced):
    """A weekly table: entries "DAYS FROM-TO[ PRICE]" separated by ";". DAYS is "*", a
    day ("mo".."su") or a range ("mo-fr"); FROM and TO are "HH" or "HH:MM" (0..24,
    FROM > TO runs over midnight); PRICE (priced tables only) is in the currency per
    kWh ("0.2345"). Returns [(day bits, from minute, to minute, price), ...]; the first
    matching entry wins. Raises ValueError with the reason."""
    rows = []
    for entry in text.split(";"):
        words = entry.split()
        if not words:
            continue
        if len(words) != (3 if priced else 2):
            raise ValueError("'%s': expected DAYS FROM-TO%s" %
                             (entry.strip(), " PRICE" if priced else ""))
        rows.append((_day_bits(words[0]),) + _span(words[1]) +
                    ((parse_price(words[2]),) if priced else (0,)))
    return rows


def _day_bits(w):
    if w == "*":
        return 0x7F
    a, _, b = w.lower().partition("-")
    if a not in _DAYS or (b and b not in _DAYS):
        raise ValueError("'%s': days are mo..su, a range mo-fr or *" % w)
    i = _DAYS.index(a)
    j = _DAYS.index(b) if b else i
    bits = 0
    while True:
        bits |= 1 << i
        if i == j:
            return bits
        i = (i + 1) % 7


def _minute(w):
    h, _, m = w.partition(":")
    if not h.isdigit() or (m and not m.isdigit()):
        raise ValueError("'%s': a time is HH or HH:MM" % w)
    v = int(h) * 60 + (int(m) if m else 0)
    if v > 1440 or (m and int(m) > 59):
        raise ValueError("'%s': a time is 00:00..24:00" % w)
    return v


def _span(w):
    a, sep, b = w.partition("-")
    if not sep:
        raise ValueError("'%s': a span is FROM-TO" % w)
    a, b = _minute(a), _minute(b)
    if a == b:
        raise ValueError("'%s': an empty span" % w)
    return a, b


def parse_price(w):
    """"0.2345" (currency per kWh) -> 23450; up to five decimals, may be negative."""
    neg = w.startswith("-")
    whole, _, frac = w.lstrip("-").partition(".")
    if not (whole or frac) or not (whole.isdigit() or not whole) or \
            not (frac.isdigit() or not frac) or len(frac) > 5 or len(whole) > 4:
        raise ValueError("'%s': a price is like 0.2345 (currency per kWh)" % w)
    v = int(whole or "0") * PRICE_SCALE + int((frac + "00000")[:5])
    return -v if neg else v


def table_match(rows, weekday, minute):
    """The first row covering (weekday, minute), or None. A span over midnight belongs
    to the day it starts on."""
    for row in rows:
        bits, a, b = row[0], row[1], row[2]
        if a < b:
            if bits >> weekday & 1 and a <= minute < b:
                return row
        elif (bits >> weekday & 1 and minute >= a) or \
                (bits >> ((weekday + 6) % 7) & 1 and minute < b):
            return row
    return None


# ------------------------------------------------------------------------- prices
class Prices:
    """Where a slot's price comes from: the price feed where it covers the slot, else
    the tariff table, else none: the plan then takes the dearest known price for it (no
    known price at all: no preference, so the plan charges early)."""

    def __init__(self):
        self.table = []  # parse_table(..., True)
        self.feed_start = 0  # Unix seconds of the feed's first price
        self.feed_step = SLOT_S  # 900 or 3600
        self.feed = array("l")  # last good prices from the feed
        self.std_offset_s = 0
        self.dst = DST_NONE
        self.rev = 0  # bumped on every change: the plan re-plans

    def set_feed(self, start, step, values):
        self.feed_start, self.feed_step, self.feed = start, step, values
        self.rev += 1

    def set_table(self, rows):
        self.table = rows
        self.rev += 1

    def at(self, t):
        """The price at Unix time t, and whether it is known (feed or table)."""
        i = (t - self.feed_start) // self.feed_step
        if t >= self.feed_start and i < len(self.feed):
            return self.feed[i], True
        if self.table:
            wd, minute = weekday_minute(t, local_offset_s(t, self.std_offset_s, self.dst))
            row = table_match(self.table, wd, minute)
            if row is not None:
                return row[3], True
        return 0, False


def allowed(rows, t, offset_s):
    """Whether the weekly windows allow charging at t (no windows: always)."""
    if not rows:
        return True
    wd, minute = weekday_minute(t, offset_s)
    return table_match(rows, wd, minute) is not None


def wanted_wh(kwh_x10, km, wh_per_km):
    """The energy wanted: kilometres times the consumption when km is set, else kWh."""
    return km * wh_per_km if km > 0 else kwh_x10 * 100


# --------------------------------------------------------------------- the planner
def allocate(prices, caps, n, need, order, alloc):
    """Fill the cheapest of n slots first (ties: the earlier slot) up to each slot's
    cap until `need` Wh are placed; writes alloc[i] and returns what could not be placed.
    order is scratch (bytearray(n)); exact for the fractional knapsack."""
    for i in range(n):  # insertion sort by (price, index): stable, in place
        j = i
        p = prices[i]
        while j > 0 and prices[order[j - 1]] > p:
            order[j] = order[j - 1]
            j -= 1
        order[j] = i
    left = need
    for k in range(n):
        i = order[k]
        e = caps[i] if caps[i] < left else left
        if e < 0:
            e = 0
        alloc[i] = e
        left -= e
    return left if left > 0 else 0


class Planner:
    """One plan at a time: slots from `start` (the current quarter-hour, cut to now)
    until the departure, each with its price, cap, planned energy, current and the
    seconds it charges from the slot's start."""

    def __init__(self):
        zeros = [0] * MAX_SLOTS  # not bytes(): MicroPython reads those as raw items
        self.n = 0
        self.start = 0  # Unix seconds of slot 0's quarter-hour
        self.now = 0  # when the plan was made
        self.depart = 0
        self.price = array("l", zeros)
        self.cap = array("l", zeros)  # Wh the slot can take
        self.wh = array("l", zeros)  # Wh planned
        self.da = array("H", zeros)  # current while charging
        self.on_s = array("H", zeros)  # seconds charging from the slot start
        self._order = bytearray(MAX_SLOTS)
        self._unknown = bytearray(MAX_SLOTS)  # the slot's price is not known
        self.need = 0
        self.missing = 0  # Wh the plan cannot deliver by the departure
        self.cost = 0  # sum of price x Wh (PRICE_SCALE x 1000 per currency unit)
        self.done_at = 0  # Unix seconds the energy is expected complete (0: never)
        self.known = True  # every planned slot had a known price
        self.made_ms = None  # ticks of the last plan
        self.rev = -1  # the prices' revision the plan was made with
        self.max_da = 0  # ... and the limit
        self.delivered0 = 0  # Wh the session had delivered when the plan was made

    def slot_bounds(self, i):
        """(begin, end) of slot i in Unix seconds, cut to now and to the departure."""
        b = self.start + i * SLOT_S
        e = b + SLOT_S
        return (b if b > self.now else self.now), (e if e < self.depart else self.depart)

    def plan(self, now, depart, need_wh, max_da, phases, volts, prices, windows,
             offset_s, now_ms, delivered_wh, min_da=MIN_DA):
        """Plan `need_wh` more Wh from now to the departure at no more than max_da."""
        self.now = now
        self.depart = depart
        self.start = now - now % SLOT_S
        n = 0 if depart <= now else (depart - self.start + SLOT_S - 1) // SLOT_S
        if n > MAX_SLOTS:
            n = MAX_SLOTS
            self.depart = depart = self.start + n * SLOT_S
        self.n = n
        if min_da > max_da:
            max_da = 0  # below the pilot's minimum nothing can be offered
        unit = volts * phases  # W per A
        self.known = True
        dearest = None  # of the known prices
        unknown = self._unknown
        for i in range(n):
            b, e = self.slot_bounds(i)
            p, known = prices.at(b)
            self.price[i] = p
            unknown[i] = not known
            if not known:
                self.known = False
            elif dearest is None or p > dearest:
                dearest = p
            ok = allowed(windows, b, offset_s)
            self.cap[i] = max_da * unit * (e - b) // 36000 if ok else 0
        if dearest is not None and not self.known:
            for i in range(n):  # a slot past the feed and the table is no bargain
                if unknown[i]:
                    self.price[i] = dearest
        self.need = need_wh if need_wh > 0 else 0
        self.missing = allocate(self.price, self.cap, n, self.need, self._order, self.wh)
        cost = 0
        done = 0
        got = 0
        for i in range(n):
            wh = self.wh[i]
            cost += self.price[i] * wh
            b, e = self.slot_bounds(i)
            self.on_s[i] = 0
            self.da[i] = 0
            if wh > 0:
                full = (wh * 36000 + unit * (e - b) - 1) // (unit * (e - b))  # ceil
                if full >= min_da:
                    self.da[i] = full
                    self.on_s[i] = e - b
                else:
                    self.da[i] = min_da
                    self.on_s[i] = (wh * 36000 + unit * min_da - 1) // (unit * min_da)
                got += wh
                if got >= self.need and done == 0:
                    done = b + self.on_s[i]
        self.cost = cost
        self.done_at = done
        self.made_ms = now_ms
        self.delivered0 = delivered_wh
        self.rev = prices.rev
        self.max_da = max_da
        return self.missing

    def slot(self, t):
        """The slot index of Unix time t, or -1 outside the plan."""
        if t < self.now or t >= self.depart or self.n == 0:
            return -1
        i = (t - self.start) // SLOT_S
        return i if i < self.n else -1

    def claim(self, t):
        """The plan's current at Unix time t (0.1 A; 0: pause)."""
        i = self.slot(t)
        if i < 0:
            return 0
        b = self.start + i * SLOT_S
        if b < self.now:
            b = self.now
        return self.da[i] if t - b < self.on_s[i] else 0

    def planned_by(self, t):
        """Wh the plan expected delivered between its making and Unix time t."""
        total = 0
        for i in range(self.n):
            b, e = self.slot_bounds(i)
            if b >= t:
                break
            if t >= e:
                total += self.wh[i]
            else:
                total += self.wh[i] * (t - b) // (e - b)
        return total

    def due(self, t, now_ms, delivered_wh, prices_rev, max_da):
        """Whether to re-plan: never planned or new prices (at once); the limit changed,
        a slot boundary passed, or the car drew clearly less than planned (not more often
        than every 30 s (ticks), so a flapping input does not re-plan every call)."""
        if self.made_ms is None or prices_rev != self.rev:
            return True  # new prices are rare: at once
        if ticks_diff(now_ms, self.made_ms) < _REPLAN_MIN_MS:
            return False
        if max_da != self.max_da:
            return True
        if (t - t % SLOT_S) != (self.now - self.now % SLOT_S):
            return True
        return delivered_wh - self.delivered0 + _LAG_WH < self.planned_by(t)
