"""Smart charging (OCPP 1.6J SetChargingProfile, GetCompositeSchedule): parsing and
checking charging profiles, and the composite schedule over a time span. The limit at
one moment, which the backend needs all the time, is core/ocpp.limit_at; this module is
loaded for the smart-charging CALLs only.
"""
from micropython import const

from firmware.core.ocpp import CYCLE, TX, CallError, limit_at, to_unix
from firmware.core.ocpp_calls import check

_PROFILE = ("i!chargingProfileId,i?transactionId,i!stackLevel,s!chargingProfilePurpose,"
            "s!chargingProfileKind,s?recurrencyKind,d?validFrom,d?validTo,o!chargingSchedule")
_SCHEDULE = ("i?duration,d?startSchedule,s!chargingRateUnit,a!chargingSchedulePeriod,"
             "n?minChargingRate")
_PERIOD = "i!startPeriod,n!limit,i?numberPhases"

PURPOSES = ("ChargePointMaxProfile", "TxDefaultProfile", "TxProfile")
KINDS = ("Absolute", "Recurring", "Relative")
MAX_STACK = const(8)
MAX_PERIODS = const(24)
MAX_PROFILES = const(8)


def _index(options, v, what):
    for i, o in enumerate(options):
        if o == v:
            return i
    raise CallError("PropertyConstraintViolation", what + " not allowed: " + str(v))


def parse_profile(p, now):
    """A stored profile from a csChargingProfiles object; CallError for bad types or
    values; ValueError(reason) for a profile that is well formed but must be Rejected."""
    check(_PROFILE, p)
    s = p["chargingSchedule"]
    check(_SCHEDULE, s)
    purpose = _index(PURPOSES, p["chargingProfilePurpose"], "chargingProfilePurpose")
    kind = _index(KINDS, p["chargingProfileKind"], "chargingProfileKind")
    rec = 0
    if p.get("recurrencyKind") is not None:
        rec = 1 + _index(("Daily", "Weekly"), p["recurrencyKind"], "recurrencyKind")
    unit = _index(("A", "W"), s["chargingRateUnit"], "chargingRateUnit")
    periods = []
    last = -1
    for q in s["chargingSchedulePeriod"]:
        check(_PERIOD, q)
        ph = q.get("numberPhases")
        if q["startPeriod"] <= last or q["limit"] < 0 or (ph is not None and not 1 <= ph <= 3):
            raise ValueError("periods must start in order with limits >= 0 and 1-3 phases")
        last = q["startPeriod"]
        periods.append([last, q["limit"], ph])
    if not periods or periods[0][0] != 0 or len(periods) > MAX_PERIODS:
        raise ValueError("the first period must start at 0; at most %d periods" % MAX_PERIODS)
    if p["stackLevel"] < 0 or p["stackLevel"] > MAX_STACK:
        raise ValueError("stackLevel above %d" % MAX_STACK)
    start = s.get("startSchedule")
    start = None if start is None else to_unix(start)
    if (kind == 1) != (rec != 0) or (kind == 1 and start is None):
        raise ValueError("Recurring needs recurrencyKind and startSchedule")
    if kind == 0 and start is None:
        start = now  # an absolute schedule without a start begins when it is received
    if kind == 2:
        start = None  # relative: starts with the transaction
    if purpose != TX and p.get("transactionId") is not None:
        raise ValueError("transactionId only in a TxProfile")
    vf = p.get("validFrom")
    vt = p.get("validTo")
    return [p["chargingProfileId"], purpose, p["stackLevel"], kind, rec,
            None if vf is None else to_unix(vf), None if vt is None else to_unix(vt),
            start, s.get("duration"), unit, periods, p.get("transactionId")]


def _edges(p, t0, t1, tx_start):
    """Times in [t0, t1) at which profile p may change its limit."""
    out = [x for x in (p[5], p[6]) if x is not None]
    start = tx_start if p[3] == 2 else p[7]
    if start is not None:
        cycle = CYCLE[p[4]]
        if cycle:
            start += (t0 - start) // cycle * cycle
        while start < t1:
            for q in p[10]:
                out.append(start + q[0])
            if p[8] is not None:
                out.append(start + p[8])
            if not cycle:
                break
            start += cycle
    return [x for x in out if t0 < x < t1]


def composite(profiles, t0, duration, tx_id, tx_start, max_da, phases=3, volts=230):
    """The composite schedule from t0 for `duration` s: [(offset s, limit 0.1 A)], the
    limit being the profiles' combined limit or else `max_da`; changes only."""
    t1 = t0 + duration
    times = [t0]
    for p in profiles:
        times.extend(_edges(p, t0, t1, tx_start))
    times.sort()
    out = []
    prev = None
    for t in times:
        if t == prev:
            continue
        prev = t
        lim = limit_at(profiles, t, tx_id, tx_start, phases, volts)
        lim = max_da if lim is None or lim > max_da else lim
        if not out or out[-1][1] != lim:
            out.append((t - t0, lim))
    return out
