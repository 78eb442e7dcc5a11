"""OCPP 1.6J pure logic for answering the central system's CALLs: payload checks with
the OCPP-J error codes, the configuration key table and its validation, charging
profile parsing and the composite schedule. The backend loads this module for a CALL
and drops it afterwards (it is not needed in between); core/ocpp.py holds the rest.
"""
from micropython import const

from firmware.core.ocpp import CYCLE, ENERGY, TX, CallError, limit_at, to_unix


# ---------------------------------------------------------------------- payload checks
# Fields of every CALL the central system may send: type letter (i int, n number, s text,
# d date-time, o object, a array, b bool), "!" required or "?" optional, then the name.
_CALLS = ("|CancelReservation=i!reservationId|ChangeAvailability=i!connectorId,s!type"
          "|ChangeConfiguration=s!key,s!value|ClearCache=|ClearChargingProfile=i?id,"
          "i?connectorId,s?chargingProfilePurpose,i?stackLevel|DataTransfer=s!vendorId,"
          "s?messageId|GetCompositeSchedule=i!connectorId,i!duration,s?chargingRateUnit"
          "|GetConfiguration=a?key|GetDiagnostics=s!location,i?retries,i?retryInterval,"
          "d?startTime,d?stopTime|GetLocalListVersion=|RemoteStartTransaction=i?connectorId,"
          "s!idTag,o?chargingProfile|RemoteStopTransaction=i!transactionId|ReserveNow="
          "i!connectorId,d!expiryDate,s!idTag,s?parentIdTag,i!reservationId|Reset=s!type"
          "|SendLocalList=i!listVersion,a?localAuthorizationList,s!updateType"
          "|SetChargingProfile=i!connectorId,o!csChargingProfiles|TriggerMessage="
          "s!requestedMessage,i?connectorId|UnlockConnector=i!connectorId|UpdateFirmware="
          "s!location,i?retries,d!retrieveDate,i?retryInterval|")
# OCPP 1.6 actions (security extension) this charge point knows but does not support
_KNOWN = ("|CertificateSigned|DeleteCertificate|ExtendedTriggerMessage|GetInstalledCertificateIds"
          "|GetLog|InstallCertificate|SignedUpdateFirmware|")
_PROFILE = ("i!chargingProfileId,i?transactionId,i!stackLevel,s!chargingProfilePurpose,"
            "s!chargingProfileKind,s?recurrencyKind,d?validFrom,d?validTo,o!chargingSchedule")
_SCHEDULE = ("i?duration,d?startSchedule,s!chargingRateUnit,a!chargingSchedulePeriod,"
             "n?minChargingRate")
_PERIOD = "i!startPeriod,n!limit,i?numberPhases"
AUTH_ENTRY = "s!idTag,o?idTagInfo"
TAG_INFO = "s!status,d?expiryDate,s?parentIdTag"


def check(spec, p):
    """Check payload `p` against a field spec; raises CallError with the OCPP-J code."""
    if not isinstance(p, dict):
        raise CallError("FormationViolation", "payload must be a JSON object")
    for f in spec.split(","):
        if not f:
            continue
        t, name = f[0], f[2:]
        v = p.get(name)
        if v is None:
            if f[1] == "!":
                raise CallError("OccurenceConstraintViolation", name + " missing")
            continue
        if t == "i" or t == "n":
            ok = not isinstance(v, bool) and (isinstance(v, int) or
                                              (t == "n" and isinstance(v, float)))
        elif t == "s":
            ok = isinstance(v, str)
        elif t == "d":
            ok = isinstance(v, str) and to_unix(v) is not None
        elif t == "o":
            ok = isinstance(v, dict)
        elif t == "a":
            ok = isinstance(v, list)
        else:
            ok = isinstance(v, bool)
        if not ok:
            raise CallError("TypeConstraintViolation", name + " has the wrong type")


def check_call(action, p):
    """Check an incoming CALL; NotImplemented / NotSupported for actions not handled."""
    i = _CALLS.find("|" + action + "=")
    if i < 0 or not action:
        if _KNOWN.find("|" + action + "|") >= 0 and action:
            raise CallError("NotSupported", action + " is not supported")
        raise CallError("NotImplemented", "unknown action")
    i += len(action) + 2
    check(_CALLS[i:_CALLS.find("|", i)], p)


def need(ok, what, code="PropertyConstraintViolation"):
    if not ok:
        raise CallError(code, what)


# ---------------------------------------------------------------- configuration keys
# name, kind, default, minimum, maximum, writable (the writable ones' defaults are also
# core/ocpp.WRITABLE, which the backend keeps loaded). Kinds: integer, boolean,
# measurand list, text (read-only), phase rotation list.
KI = const(0)
KB = const(1)
KM = const(2)
KS = const(3)
KR = const(4)
MEASURANDS = (ENERGY, "Power.Active.Import", "Current.Import", "Current.Offered",
              "Voltage", "Temperature")
KEYS = (
    ("AllowOfflineTxForUnknownId", KB, False, 0, 0, 1),
    ("AuthorizationCacheEnabled", KB, False, 0, 0, 0),
    ("AuthorizeRemoteTxRequests", KB, False, 0, 0, 1),
    ("ChargeProfileMaxStackLevel", KI, 8, 0, 0, 0),
    ("ChargingScheduleAllowedChargingRateUnit", KS, "Current,Power", 0, 0, 0),
    ("ChargingScheduleMaxPeriods", KI, 24, 0, 0, 0),
    ("ClockAlignedDataInterval", KI, 0, 0, 86400, 1),
    ("ConnectionTimeOut", KI, 60, 10, 3600, 1),
    ("ConnectorPhaseRotation", KR, "0.NotApplicable,1.RST", 0, 2, 1),
    ("ConnectorPhaseRotationMaxLength", KI, 2, 0, 0, 0),
    ("ConnectorSwitch3to1PhaseSupported", KB, False, 0, 0, 0),
    ("GetConfigurationMaxKeys", KI, 50, 0, 0, 0),
    ("HeartbeatInterval", KI, 300, 0, 86400, 1),
    ("LocalAuthListEnabled", KB, True, 0, 0, 1),
    ("LocalAuthListMaxLength", KI, 64, 0, 0, 0),
    ("LocalAuthorizeOffline", KB, True, 0, 0, 1),
    ("LocalPreAuthorize", KB, False, 0, 0, 1),
    ("MaxChargingProfilesInstalled", KI, 8, 0, 0, 0),
    ("MeterValueSampleInterval", KI, 60, 0, 86400, 1),
    ("MeterValuesAlignedData", KM, ENERGY, 0, 6, 1),
    ("MeterValuesAlignedDataMaxLength", KI, 6, 0, 0, 0),
    ("MeterValuesSampledData", KM, ENERGY, 0, 6, 1),
    ("MeterValuesSampledDataMaxLength", KI, 6, 0, 0, 0),
    ("NumberOfConnectors", KI, 1, 0, 0, 0),
    ("ReserveConnectorZeroSupported", KB, False, 0, 0, 0),
    ("ResetRetries", KI, 3, 0, 10, 1),
    ("SendLocalListMaxLength", KI, 64, 0, 0, 0),
    ("StopTransactionOnEVSideDisconnect", KB, True, 0, 0, 1),
    ("StopTransactionOnInvalidId", KB, True, 0, 0, 1),
    ("StopTxnAlignedData", KM, "", 0, 6, 1),
    ("StopTxnAlignedDataMaxLength", KI, 6, 0, 0, 0),
    ("StopTxnSampledData", KM, "", 0, 6, 1),
    ("StopTxnSampledDataMaxLength", KI, 6, 0, 0, 0),
    ("SupportedFeatureProfiles", KS, "Core,FirmwareManagement,LocalAuthListManagement,"
     "Reservation,SmartCharging,RemoteTrigger", 0, 0, 0),
    ("SupportedFeatureProfilesMaxLength", KI, 6, 0, 0, 0),
    ("TransactionMessageAttempts", KI, 3, 0, 10, 1),
    ("TransactionMessageRetryInterval", KI, 60, 0, 3600, 1),
    ("UnlockConnectorOnEVSideDisconnect", KB, True, 0, 0, 1),
    ("WebSocketPingInterval", KI, 60, 0, 3600, 1),
)
_ROTATIONS = ("NotApplicable", "Unknown", "RST", "RTS", "SRT", "STR", "TRS", "TSR")


def key_row(name):
    for row in KEYS:
        if row[0] == name:
            return row
    return None


def defaults():
    return {row[0]: row[2] for row in KEYS}


def text(v):
    """A key's value as OCPP text."""
    return ("true" if v else "false") if isinstance(v, bool) else str(v)


def parse_key(row, value):
    """The value of a ChangeConfiguration for key `row`, or ValueError with the reason."""
    kind, lo, hi = row[1], row[3], row[4]
    if kind == KI:
        if not value.isdigit():
            raise ValueError("not a whole number")
        v = int(value)
        if not lo <= v <= hi:
            raise ValueError("out of range")
        return v
    if kind == KB:
        v = value.lower()
        if v != "true" and v != "false":
            raise ValueError("not true or false")
        return v == "true"
    items = [x.strip() for x in value.split(",")] if value.strip() else []
    if len(items) > hi:
        raise ValueError("too many items")
    for x in items:
        if kind == KM:
            if x not in MEASURANDS:
                raise ValueError("measurand not supported: " + x)
        else:
            n, _, r = x.partition(".")
            if n not in ("0", "1") or r not in _ROTATIONS:
                raise ValueError("bad phase rotation: " + x)
    return ",".join(items)


# ------------------------------------------------------------------- smart charging
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
