"""OCPP 1.6J payload checks with the OCPP-J error codes, for answering the central
system's CALLs. The backend loads this module for a CALL and drops it afterwards, like
core/ocpp_keys.py (configuration keys) and core/smartcharging.py (charging profiles),
which only the CALLs about them need; core/ocpp.py holds what is always loaded.
"""
from firmware.core.ocpp import CallError, to_unix


# ---------------------------------------------------------------------- payload checks
# Fields of every CALL the central system may send: type letter (i int, n number, s text,
# d date-time, o object, a array, l array of text, b bool), "!" required or "?" optional,
# then the name. host_tests/peers/test_ocpp_schemas.py holds it against the OCPP 1.6 schemas.
_CALLS = ("|CancelReservation=i!reservationId|ChangeAvailability=i!connectorId,s!type"
          "|ChangeConfiguration=s!key,s!value|ClearCache=|ClearChargingProfile=i?id,"
          "i?connectorId,s?chargingProfilePurpose,i?stackLevel|DataTransfer=s!vendorId,"
          "s?messageId,s?data|GetCompositeSchedule=i!connectorId,i!duration,s?chargingRateUnit"
          "|GetConfiguration=l?key|GetDiagnostics=s!location,i?retries,i?retryInterval,"
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
_I32 = 2 ** 31
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
        elif t == "a" or t == "l":
            ok = isinstance(v, list)
            if ok and t == "l":
                for x in v:
                    ok = ok and isinstance(x, str)
        else:
            ok = isinstance(v, bool)
        if not ok:
            raise CallError("TypeConstraintViolation", name + " has the wrong type")
        # within 32 bits (a NaN fails both comparisons, an infinity one)
        if (t == "i" or t == "n") and not -_I32 <= v < _I32:
            raise CallError("PropertyConstraintViolation", name + " out of range")


def check_call(action, p):
    """Check an incoming CALL; NotImplemented / NotSupported for actions not handled."""
    i = _CALLS.find("|" + action + "=")
    if i < 0 or not action:
        if _KNOWN.find("|" + action + "|") >= 0 and action:
            raise CallError("NotSupported", action + " is not supported")
        raise CallError("NotImplemented", "unknown action")
    i += len(action) + 2
    check(_CALLS[i:_CALLS.find("|", i)], p)


def availability(connector, operative, inop, cp_inop):
    """ChangeAvailability outside a transaction (OCPP 1.6 5.2): connector 0 is the charge
    point as a whole and changes every connector with it; connector 1 changes only
    itself, and cannot become Operative while the charge point is Inoperative. `inop`:
    connector 1 is unavailable, `cp_inop`: the charge point (connector 0) is. Returns
    (status, inop, cp_inop)."""
    if connector == 0:
        return "Accepted", not operative, not operative
    if operative and cp_inop:
        return "Rejected", inop, cp_inop
    return "Accepted", not operative, cp_inop


def need(ok, what, code="PropertyConstraintViolation"):
    if not ok:
        raise CallError(code, what)
