"""The charge point's answers to the central system's CALLs (OCPP 1.6J), and the work
that follows some of them (reset, diagnostics upload, software update, Authorize of a
remote start). Loaded by the backend when a CALL arrives and dropped after it: these
run minutes or hours apart, and the heap is better spent on the rest in between.

`handle(b, action, payload)` returns the CALLRESULT payload or raises CallError; a
coroutine function that must run after the answer is sent goes to `b.after`.
"""
import asyncio
from time import ticks_diff, ticks_ms

from firmware.core import front, limits, ocpp
from firmware.core import ocpp_calls as oc
from firmware.core import pilot as cp
from firmware.core.ocpp import CallError
from firmware.core.ocpp_calls import need
from firmware.services import websocket
from firmware.services.backend import LIST, VENDOR_ID
from firmware.services.config import save_json
from firmware.services.log import ERROR, INFO

_ACCEPTED = {"status": "Accepted"}
_REJECTED = {"status": "Rejected"}
_SENDING = ("BootNotification", "DiagnosticsStatusNotification",
            "FirmwareStatusNotification", "Heartbeat", "MeterValues", "StatusNotification")


def handle(b, action, p):
    oc.check_call(action, p)
    return globals()[action](b, p)


# ------------------------------------------------------------------------ Core
def ChangeAvailability(b, p):
    need(p["type"] in ("Operative", "Inoperative"), "type")
    if p["connectorId"] not in (0, 1):
        return _REJECTED
    inop = p["type"] == "Inoperative"
    st = b.st
    if inop and b.tx is not None:
        st["inop_at_end"] = True
        b.save()
        return {"status": "Scheduled"}
    st.pop("inop_at_end", None)
    if st.get("inop", False) != inop:
        st["inop"] = inop
        b.save()
        b.note(INFO, "charge point " + p["type"].lower())
    b.tick.set()
    return _ACCEPTED


def ChangeConfiguration(b, p):
    key, value = p["key"], p["value"]
    need(len(key) <= 50 and len(value) <= 500, "key or value too long")
    if key == "AuthorizationKey":  # security profiles 1 and 2: the Basic auth password
        if len(value) < 16 or b.cfg.update({"backend.key": value}):
            return _REJECTED
        b.note(INFO, "authorization key changed")
        return _ACCEPTED
    row = oc.key_row(key)
    if row is None:
        return {"status": "NotSupported"}
    if not row[5]:
        return _REJECTED
    try:
        v = oc.parse_key(row, value)
    except ValueError as e:
        b.note(ERROR, "%s=%.20s rejected: %s" % (key, value, e))
        return _REJECTED
    b.keys[key] = v
    b.save()
    b.note(INFO, "%s set to %s" % (key, oc.text(v)))
    return _ACCEPTED


def ClearCache(b, p):
    return _ACCEPTED  # no authorization cache: nothing to clear


def DataTransfer(b, p):
    if p["vendorId"] != VENDOR_ID:
        return {"status": "UnknownVendorId"}
    if p.get("messageId") != "Pair":
        return {"status": "UnknownMessageId"}
    if cp.B <= b.charger().pilot.state <= cp.D:  # the manual: no vehicle connected
        return {"status": "Rejected", "data": "vehicle connected"}
    b.pairing_at = ticks_ms()
    b.note(INFO, "pairing requested: press the touch button")
    return _ACCEPTED


def GetConfiguration(b, p):
    want = p.get("key") or [row[0] for row in oc.KEYS]
    known = []
    unknown = []
    for k in want[:50]:
        row = oc.key_row(k) if isinstance(k, str) else None
        if row is None:
            unknown.append(str(k)[:50])
        else:
            known.append({"key": k, "readonly": not row[5],
                          "value": oc.text(b.keys[k] if row[5] else row[2])})
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
            prof = oc.parse_profile(prof, b.now())
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
    try:
        prof = oc.parse_profile(p["csChargingProfiles"], b.now())
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
    if len(keep) >= oc.MAX_PROFILES:
        return _REJECTED
    b.profiles = keep + [prof]
    b.save()
    b.tick.set()
    b.note(INFO, "%s %d set" % (oc.PURPOSES[pur], prof[0]))
    return _ACCEPTED


def ClearChargingProfile(b, p):
    keep = []
    pur = p.get("chargingProfilePurpose")
    level = p.get("stackLevel")
    for x in b.profiles:
        if p.get("id") is not None:
            gone = x[0] == p["id"]
        else:  # one connector: a connectorId of 0 or 1 matches every profile
            gone = p.get("connectorId", 0) in (0, 1) and \
                (pur is None or oc.PURPOSES[x[1]] == pur) and (level is None or x[2] == level)
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
    for off, da in oc.composite(ps, t, dur, b.tx_id(), None if tx is None else tx["s"],
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
        b.resend_status()
        return _ACCEPTED
    if what == "BootNotification":
        m = b.boot_payload()
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


# -------------------------------------------------------------- Local auth list
def GetLocalListVersion(b, p):
    if not b.keys["LocalAuthListEnabled"]:
        return {"listVersion": -1}
    return {"listVersion": b.local_list().get("v", 0)}


def SendLocalList(b, p):
    kind = p["updateType"]
    need(kind in ("Full", "Differential"), "updateType")
    if not b.keys["LocalAuthListEnabled"]:
        return {"status": "NotSupported"}
    doc = {"v": 0, "e": {}} if kind == "Full" else b.local_list()
    if kind == "Differential" and p["listVersion"] <= doc.get("v", 0):
        return {"status": "VersionMismatch"}
    e = doc.setdefault("e", {})
    for item in p.get("localAuthorizationList") or ():
        oc.check(oc.AUTH_ENTRY, item)
        info = item.get("idTagInfo")
        if info is None:
            e.pop(item["idTag"], None)
        else:
            oc.check(oc.TAG_INFO, info)
            e[item["idTag"][:20]] = [info["status"], info.get("expiryDate"),
                                     info.get("parentIdTag")]
    if len(e) > 64:  # LocalAuthListMaxLength
        return {"status": "Failed"}
    doc["v"] = p["listVersion"]
    try:
        save_json(LIST, doc)
    except OSError as err:
        b.note(ERROR, "local list not saved: %s" % err)
        return {"status": "Failed"}
    b.note(INFO, "local list version %d, %d entries" % (doc["v"], len(e)))
    return _ACCEPTED


# -------------------------------------------------------------- Firmware management
def GetDiagnostics(b, p):
    url = p["location"]
    if getattr(b.app, "datalog", None) is None or not url.startswith(("http://", "https://")):
        b.note(ERROR, "diagnostics upload to %.40s not supported" % url)
        return {}
    name = "log-%s.txt" % b.cfg.prov.get("serial", "wallbox")
    b.after = lambda: _upload(b, url, name, p.get("retries") or 0)
    return {"fileName": name}


async def _upload(b, url, name, retries):
    dl = b.app.datalog
    b.push("DiagnosticsStatusNotification", {"status": "Uploading"})
    for _ in range(retries + 1):
        try:
            dl.flush()
            code = await upload(url, dl.chunks, name)
            if 200 <= code < 300:
                b.note(INFO, "data log uploaded")
                b.push("DiagnosticsStatusNotification", {"status": "Uploaded"})
                return
            why = "HTTP %d" % code
        except Exception as e:  # noqa: BLE001 - any failure is reported, not raised
            why = str(e) or type(e).__name__
        b.note(ERROR, "data log upload failed (%s)" % why)
        await asyncio.sleep_ms(5000)
    b.push("DiagnosticsStatusNotification", {"status": "UploadFailed"})


async def upload(url, chunks, name, timeout_ms=15000):
    """HTTP PUT of the text from `chunks()` (called twice: length, then content) to
    url + name when the URL ends with "/", else to the URL. Returns the HTTP status."""
    secure, host, port, path = websocket.parse_url(url)
    if path.endswith("/"):
        path += name
    size = 0
    for c in chunks():
        size += len(c)
    s = await websocket.open_stream(host, port, secure, None, None, timeout_ms)
    try:
        s.write(("PUT %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: text/plain\r\n"
                 "Content-Length: %d\r\nConnection: close\r\n\r\n" % (
                     path, host, port, size)).encode())
        await s.drain()
        for c in chunks():
            s.write(c.encode())
            await s.drain()
        status, _ = await asyncio.wait_for_ms(websocket.read_head(s), timeout_ms)
        return status
    finally:
        await websocket.close_stream(s)


def UpdateFirmware(b, p):
    b.fw = [p["location"], ocpp.to_unix(p["retrieveDate"]), p.get("retries") or 0,
            p.get("retryInterval") or 60]
    b.note(INFO, "software update from %.60s at %s" % (p["location"], p["retrieveDate"]))
    return {}


async def update(b, fw):
    """Download and install with the platform's update service, then restart into it."""
    def status(s):
        b.st["fw"] = s
        b.save()
        b.push("FirmwareStatusNotification", {"status": s})
    b.st["fw_from"] = b.version()  # what runs now; after the restart: did it change?
    for _ in range(fw[2] + 1):
        status("Downloading")
        try:
            await b.app.updater().install_from_url(fw[0])
            status("Installing")
            t0 = ticks_ms()  # let the notification go out, then start the new version
            while b.pending_out() and b.connected and ticks_diff(ticks_ms(), t0) < 5000:
                await asyncio.sleep_ms(100)
            b.stop("Reboot")
            b.st["boot"] = "reset"
            b.save()
            b.app.restart("backend: software update")
            return
        except Exception as e:  # noqa: BLE001 - UpdateError, network, flash
            b.note(ERROR, "software update failed: %s" % e)
        await asyncio.sleep_ms(fw[3] * 1000)
    status("DownloadFailed")
    b.st["fw"] = None
    b.save()
