"""The firmware's OCPP 1.6 type table (core/ocpp_calls.py, core/smartcharging.py) against
the JSON schemas the `ocpp` package ships: every field of every CALL the charge point
accepts is in the table with the schema's type and required flag, nested objects too."""
import json
import os

import ocpp
import pytest

from firmware.core import ocpp_calls, smartcharging
from firmware.core.ocpp import CallError

SCHEMAS = os.path.join(os.path.dirname(ocpp.__file__), "v16", "schemas")
# The central system's CALLs of OCPP 1.6 (its security extension included)
TO_CHARGE_POINT = (
    "CancelReservation", "ChangeAvailability", "ChangeConfiguration", "ClearCache",
    "ClearChargingProfile", "DataTransfer", "GetCompositeSchedule", "GetConfiguration",
    "GetDiagnostics", "GetLocalListVersion", "RemoteStartTransaction",
    "RemoteStopTransaction", "ReserveNow", "Reset", "SendLocalList", "SetChargingProfile",
    "TriggerMessage", "UnlockConnector", "UpdateFirmware", "CertificateSigned",
    "DeleteCertificate", "ExtendedTriggerMessage", "GetInstalledCertificateIds", "GetLog",
    "InstallCertificate", "SignedUpdateFirmware")


def schema(action):
    with open(os.path.join(SCHEMAS, action + ".json")) as f:
        return json.load(f)


def letter(prop):
    """The type letter of ocpp_calls.check for a schema property."""
    t = prop["type"]
    if t == "string":
        return "d" if prop.get("format") == "date-time" else "s"
    if t == "array":
        return "l" if prop["items"]["type"] == "string" else "a"
    return {"integer": "i", "number": "n", "object": "o", "boolean": "b"}[t]


def expected(obj):
    """{name: (letter, required)} of a schema object."""
    req = set(obj.get("required", ()))
    return {name: (letter(p), name in req) for name, p in obj["properties"].items()}


def table(spec):
    return {f[2:]: (f[0], f[1] == "!") for f in spec.split(",") if f}


def accepted():
    """The CALLs in the firmware's table, with their field specs."""
    out = {}
    for entry in ocpp_calls._CALLS.strip("|").split("|"):
        action, _, spec = entry.partition("=")
        out[action] = spec
    return out


def test_every_call_of_the_central_system_is_handled_or_refused_knowingly():
    calls = accepted()
    for action in TO_CHARGE_POINT:
        assert os.path.exists(os.path.join(SCHEMAS, action + ".json")), action
        assert action in calls or "|%s|" % action in ocpp_calls._KNOWN, action


@pytest.mark.parametrize("action", sorted(accepted()))
def test_type_table_covers_every_field_of_the_schema(action):
    assert table(accepted()[action]) == expected(schema(action))


def nested(obj, *path):
    for name in path:
        obj = obj["properties"][name]
        if obj["type"] == "array":
            obj = obj["items"]
    return obj


@pytest.mark.parametrize("spec, action, path", [
    (smartcharging._PROFILE, "SetChargingProfile", ("csChargingProfiles",)),
    (smartcharging._SCHEDULE, "SetChargingProfile", ("csChargingProfiles", "chargingSchedule")),
    (smartcharging._PERIOD, "SetChargingProfile",
     ("csChargingProfiles", "chargingSchedule", "chargingSchedulePeriod")),
    (smartcharging._PROFILE, "RemoteStartTransaction", ("chargingProfile",)),
    (ocpp_calls.AUTH_ENTRY, "SendLocalList", ("localAuthorizationList",)),
    (ocpp_calls.TAG_INFO, "SendLocalList", ("localAuthorizationList", "idTagInfo")),
])
def test_nested_objects_are_in_the_table(spec, action, path):
    assert table(spec) == expected(nested(schema(action), *path))


@pytest.mark.parametrize("action, payload", [
    ("DataTransfer", {"vendorId": "x", "data": [1, 2]}),
    ("DataTransfer", {"vendorId": "x", "data": {"a": 1}}),
    ("GetConfiguration", {"key": ["HeartbeatInterval", 5]}),
])
def test_wrong_types_the_schema_forbids_are_refused(action, payload):
    with pytest.raises(CallError) as e:
        ocpp_calls.check_call(action, payload)
    assert e.value.args[0] == "TypeConstraintViolation"
