"""The charge point's answers to the central system's CALLs (OCPP 1.6J), and the work
that follows some of them (reset, Authorize of a remote start). Loaded by the backend
when a CALL arrives and dropped after it: these run minutes or hours apart, and the
heap is better spent on the rest in between. The local list, diagnostics and software
update are in mgmt.py, the key table and profile parsing in core modules, each
loaded only by the CALLs that need it.

`handle(b, action, payload)` returns the CALLRESULT payload or raises CallError; a
coroutine function that must run after the answer is sent goes to `b.after`.
"""
import asyncio
from time import ticks_diff, ticks_ms

from micropython import const

from firmware.core import front, limits, ocpp
from firmware.core import ocpp_calls as oc
from firmware.core.ocpp import CallError
from firmware.core.ocpp_calls import need
from firmware.services.ocpp.common import VENDOR_ID, version
from firmware.services.platform.log import ERROR, INFO

_KEYS_PER_STEP = const(8)  # configuration keys answered per step (GetConfiguration)
_ACCEPTED = {"status": "Accepted"}
_REJECTED = {"status": "Rejected"}
_SENDING = ("BootNotification", "DiagnosticsStatusNotification",
            "FirmwareStatusNotification", "Heartbeat", "MeterValues", "StatusNotification")


def keys():
    from firmware.core import ocpp_keys
    return ocpp_keys


def sc():
    from firmware.core import smartcharging
    return smartcharging


def handle(b, action, p):
    oc.check_call(action, p)
    f = globals().get(action)
    if f is None:  # the less frequent ones
        from firmware.services.ocpp import mgmt
        f = getattr(mgmt, action)
    return f(b, p)


# ------------------------------------------------------------------------ Core
def ChangeAvailability(b, p):
    need(p["type"] in ("Operative", "Inoperative"), "type")
    conn = p["connectorId"]
    if conn not in (0, 1):
        return _REJECTED
    inop = p["type"] == "Inoperative"
    st = b.st
    if inop and b.tx is not None:
        st["inop_at_end"] = conn
        b.save()
        return {"status": "Scheduled"}
    st.pop("inop_at_end", None)
    was = (st.get("inop", False), st.get("cp_inop", False))
    status, one, whole = oc.availability(conn, not inop, was[0], was[1])
    if (one, whole) != was:
        st["inop"] = one
        st["cp_inop"] = whole
        b.save()
        b.note(INFO, "%s %s" % ("charge point" if conn == 0 else "connector 1",
                                p["type"].lower()))
    b.tick.set()
    return {"status": status}


def ChangeConfiguration(b, p):
    key, value = p["key"], p["value"]
    need(len(key) <= 50 and len(value) <= 500, "key or value too long")
    if key == "AuthorizationKey":  # security profiles 1 and 2: the Basic auth password
        if len(value) < 16 or b.cfg.update({"backend.key": value}):
            return _REJECTED
        b.note(INFO, "authorization key changed")
        return _ACCEPTED
    kt = keys()
    row = kt.key_row(key)
    if row is None:
        return {"status": "NotSupported"}
    if not row[5]:
        return _REJECTED
    try:
        v = kt.parse_key(row, value)
    except ValueError as e:
        b.note(ERROR, "%s=%.20s rejected: %s" % (key, value, e))
        return _REJECTED
    b.keys[key] = v
    b.save()
    b.note(INFO, "%s set to %s" % (key, kt.text(v)))
    return _ACCEPTED


def ClearCache(b, p):
    return _ACCEPTED  # no authorization cache: nothing to clear


def DataTransfer(b, p):
    if p["vendorId"] != VENDOR_ID:
        return {"status": "UnknownVendorId"}
    if p.get("messageId") != "Pair":
        return {"status": "UnknownMessageId"}
    if b.charger().pilot.vehicle:  # the manual: no vehicle connected
        return {"status": "Rejected", "data": "vehicle connected"}
    b.pairing_at = ticks_ms()
    b.note(INFO, "pairing requested: press the touch button")
    return _ACCEPTED


def GetConfiguration(b, p):
    """A generator (link._steps): every key is many lookups, a few keys a step."""
    kt = keys()
    want = p.get("key") or [row[0] for row in kt.rows()]
    known = []
    unknown = []
    for i, k in enumerate(want[:50]):
        if i % _KEYS_PER_STEP == _KEYS_PER_STEP - 1:
            yield
        row = kt.key_row(k)  # a text: ocpp_calls checked it
        if row is None:
            unknown.append(k[:50])
        else:
            known.append({"key": k, "readonly": not row[5],
                          "value": kt.text(b.keys[k] if row[5] else row[2])})
    out = {"configurationKey": known}
    if unknown:
        out["unknownKey"] = unknown
    return out


def RemoteStartTransaction(b, p):
    tag = p["idTag"]
    need(len(tag) <= 20, "idTag longer than 20")
    res = b.st.get("res")
    prof = p.get("chargingProfile")
    if prof is not None:
        try:
            prof = sc().parse_profile(prof, b.now())
        except ValueError:
            return _REJECTED
        if prof[1] != ocpp.TX:
            return _REJECTED
    if p.get("connectorId", 1) != 1 or b.tx is not None or \
            b.connector(b.charger())[0] in ("Faulted", "Unavailable") or \
            (res is not None and tag != res[2] and tag != res[3]):
        return _REJECTED
    if prof is not None:
        b.profiles = [x for x in b.profiles if x[1] != ocpp.TX] + [prof]
    if b.keys["AuthorizeRemoteTxRequests"]:
        b.after = lambda: _remote_auth(b, tag)
    else:
        b.grant(tag)
    return _ACCEPTED


async def _remote_auth(b, tag):
    try:
        r = await b.call("Authorize", {"idTag": tag})
        if (r.get("idTagInfo") or {}).get("status") == "Accepted":
            b.grant(tag)
            return
    except (CallError, OSError) as e:
        b.note(ERROR, "Authorize failed: %s" % (e,))
    b.note(INFO, "remote start for %s not authorized" % tag)


def RemoteStopTransaction(b, p):
    if b.tx is None or p["transactionId"] != b.tx_id():
        return _REJECTED
    b.stop("Remote")
    b.tick.set()
    return _ACCEPTED


def Reset(b, p):
    kind = p["type"]
    need(kind in ("Hard", "Soft"), "type")
    b.after = lambda: _reset(b, kind)
    return _ACCEPTED


async def _reset(b, kind):
    b.note(INFO, "%s reset" % kind.lower())
    b.stop(kind + "Reset")
    t0 = ticks_ms()  # a few seconds to deliver the StopTransaction
    while b.q.pending() and b.connected and ticks_diff(ticks_ms(), t0) < 5000:
        await asyncio.sleep_ms(100)
    b.st["boot"] = "reset"
    b.save()
    b.app.restart("backend: %s reset" % kind.lower())


def UnlockConnector(b, p):
    return {"status": "NotSupported"}  # a fixed cable: there is no lock


# -------------------------------------------------------------- Smart charging
def SetChargingProfile(b, p):
    s = sc()
    try:
        prof = s.parse_profile(p["csChargingProfiles"], b.now())
    except ValueError as e:
        b.note(ERROR, "charging profile rejected: %s" % e)
        return _REJECTED
    conn = p["connectorId"]
    pur = prof[1]
    if conn not in (0, 1) or (pur == ocpp.CP_MAX and conn != 0) or \
            (pur == ocpp.TX and (conn != 1 or b.tx is None or
                                 prof[11] not in (None, b.tx_id()))):
        return _REJECTED
    keep = [x for x in b.profiles if x[0] != prof[0] and not (x[1] == pur and x[2] == prof[2])]
    if len(keep) >= s.MAX_PROFILES:
        return _REJECTED
    b.profiles = keep + [prof]
    b.save()
    b.tick.set()
    b.note(INFO, "%s %d set" % (s.PURPOSES[pur], prof[0]))
    return _ACCEPTED


def ClearChargingProfile(b, p):
    keep = []
    names = sc().PURPOSES
    pur = p.get("chargingProfilePurpose")
    level = p.get("stackLevel")
    for x in b.profiles:
        if p.get("id") is not None:
            gone = x[0] == p["id"]
        else:  # one connector: a connectorId of 0 or 1 matches every profile
            gone = p.get("connectorId", 0) in (0, 1) and \
                (pur is None or names[x[1]] == pur) and (level is None or x[2] == level)
        if not gone:
            keep.append(x)
    if len(keep) == len(b.profiles):
        return {"status": "Unknown"}
    b.profiles = keep
    b.save()
    b.tick.set()
    return _ACCEPTED


def GetCompositeSchedule(b, p):
    unit = p.get("chargingRateUnit") or "A"
    need(unit in ("A", "W"), "chargingRateUnit")
    t = b.now()
    if p["connectorId"] not in (0, 1) or t is None or p["duration"] < 0:
        return _REJECTED
    dur = min(p["duration"], 604800)
    tx = b.tx
    claims = b.app.arbiter.claims
    cap = min(claims[limits.INSTALLATION], claims[limits.CABLE], claims[limits.CONFIGURED])
    phases = b.cfg.get("charging.phases")
    periods = []
    ps = b.profiles if b.mode != front.IMMEDIATE or not b.forced else \
        [x for x in b.profiles if x[1] == ocpp.CP_MAX]
    for off, da in sc().composite(ps, t, dur, b.tx_id(), None if tx is None else tx["s"],
                                cap, phases)[:64]:
        periods.append({"startPeriod": off,
                        "limit": da / 10 if unit == "A" else da * 23 * phases})
    return {"status": "Accepted", "connectorId": p["connectorId"], "scheduleStart": ocpp.iso(t),
            "chargingSchedule": {"duration": dur, "startSchedule": ocpp.iso(t),
                                 "chargingRateUnit": unit, "chargingSchedulePeriod": periods}}


# -------------------------------------------------------------- Remote trigger
def TriggerMessage(b, p):
    what = p["requestedMessage"]
    if what not in _SENDING:
        return {"status": "NotImplemented"}
    if p.get("connectorId") not in (None, 0, 1):
        return _REJECTED
    if what == "StatusNotification":
        b.status_sent = [None, None]  # the watch task sends both again
        b.tick.set()
        return _ACCEPTED
    if what == "BootNotification":
        m = boot_payload(b)
    elif what == "MeterValues":
        m = {"connectorId": 1, "meterValue": [
            b.sample(b.charger(), b.keys["MeterValuesSampledData"], "Trigger")]}
        if b.tx_id() is not None:
            m["transactionId"] = b.tx_id()
    elif what == "FirmwareStatusNotification":
        m = {"status": b.st.get("fw") or "Idle"}
    elif what == "DiagnosticsStatusNotification":
        m = {"status": "Idle"}
    else:
        m = {}
    b.push(what, m)
    return _ACCEPTED


# -------------------------------------------------------------- Reservation
def ReserveNow(b, p):
    need(len(p["idTag"]) <= 20, "idTag longer than 20")
    res = b.st.get("res")
    if p["connectorId"] != 1:
        return _REJECTED
    st = b.connector(b.charger())[0]
    if st == "Faulted" or st == "Unavailable":
        return {"status": st}
    if st not in ("Available", "Reserved") or (res is not None and res[0] != p["reservationId"]):
        return {"status": "Occupied"}
    b.st["res"] = [p["reservationId"], ocpp.to_unix(p["expiryDate"]), p["idTag"],
                   p.get("parentIdTag")]
    b.save()
    b.note(INFO, "reserved for " + p["idTag"])
    return _ACCEPTED


def CancelReservation(b, p):
    res = b.st.get("res")
    if res is None or res[0] != p["reservationId"]:
        return _REJECTED
    b.st["res"] = None
    b.save()
    return _ACCEPTED


def GetLocalListVersion(b, p):
    if not b.keys["LocalAuthListEnabled"]:
        return {"listVersion": -1}
    return {"listVersion": b.local_list().get("v", 0)}


# ------------------------------------------------------------------ for the backend
async def authorize(b, uid):
    """A card not in the whitelist (backend.Backend.authorize)."""
    k = b.keys
    e = b.local_list().get("e", {}).get(uid) if k["LocalAuthListEnabled"] else None
    t = b.now()
    ok = e is not None and e[0] == "Accepted" and \
        (e[1] is None or t is None or (ocpp.to_unix(e[1]) or 0) > t)
    if ok and k["LocalPreAuthorize"]:
        return True
    if b.accepted:
        try:
            r = await b.call("Authorize", {"idTag": uid[:20]})
            return (r.get("idTagInfo") or {}).get("status") == "Accepted"
        except (CallError, OSError) as err:
            b.note(ERROR, "Authorize failed: %s" % (err,))
    if e is not None:
        return ok and k["LocalAuthorizeOffline"]
    return True if k["AllowOfflineTxForUnknownId"] else None


def boot_payload(b):
    p = {"chargePointVendor": "Open Wallbox",
         "chargePointModel": ("Wallbox " + b.app.board.NAME)[:20]}
    serial = b.cfg.prov.get("serial")
    if serial:
        p["chargePointSerialNumber"] = serial[:25]
    v = version()
    if v:
        p["firmwareVersion"] = v
    return p
