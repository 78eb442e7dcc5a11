"""OCPP 1.6J pure logic: time stamps, payload checks and their OCPP-J error codes, the
connector status from the charging core, configuration keys."""
import pytest

from firmware.core import faults, ocpp, ocpp_calls, ocpp_keys
from firmware.core.ocpp import CallError
from rig import Rig


@pytest.mark.parametrize("text, t", [
    ("1970-01-01T00:00:00Z", 0),
    ("2026-11-27T12:00:00Z", 1795780800),
    ("2026-11-27T12:00:00.123456Z", 1795780800),
    ("2026-11-27T13:30:00+01:30", 1795780800),
    ("2026-11-27T10:00:00-02:00", 1795780800),
    ("2028-02-29T00:00:00Z", 1835395200),
    ("2000-03-01T00:00:00", 951868800),
])
def test_time_stamps(text, t):
    assert ocpp.to_unix(text) == t


@pytest.mark.parametrize("text", ["", "2026-11-27", "yesterday", "2026-11-27T12:00:00+0100",
                                  "2026-1x-27T12:00:00Z", "2026-11-27T12:00:00 Z"])
def test_bad_time_stamps(text):
    assert ocpp.to_unix(text) is None


@pytest.mark.parametrize("t", [0, 951782400, 1795780800, 1835395200, 4102444799])
def test_iso_round_trip(t):
    s = ocpp.iso(t)
    assert len(s) == 20 and s.endswith("Z")
    assert ocpp.to_unix(s) == t


def test_weekday():
    assert ocpp.civil(1795780800)[6] == 4  # 2026-11-27 is a Friday
    assert ocpp.civil(0)[6] == 3  # 1970-01-01 was a Thursday


@pytest.mark.parametrize("action, payload, code", [
    ("Reset", {"type": 5}, "TypeConstraintViolation"),
    ("Reset", {}, "OccurenceConstraintViolation"),
    ("Reset", [], "FormationViolation"),
    ("ChangeAvailability", {"connectorId": "1", "type": "Inoperative"},
     "TypeConstraintViolation"),
    ("ChangeAvailability", {"connectorId": True, "type": "Inoperative"},
     "TypeConstraintViolation"),
    ("ReserveNow", {"connectorId": 1, "expiryDate": "soon", "idTag": "A",
                    "reservationId": 1}, "TypeConstraintViolation"),
    ("GetConfiguration", {"key": "HeartbeatInterval"}, "TypeConstraintViolation"),
    ("FlyToTheMoon", {}, "NotImplemented"),
    ("", {}, "NotImplemented"),
    ("GetLog", {}, "NotSupported"),
    ("SignedUpdateFirmware", {}, "NotSupported"),
])
def test_call_checks_give_the_ocpp_j_error_code(action, payload, code):
    with pytest.raises(CallError) as e:
        ocpp_calls.check_call(action, payload)
    assert e.value.args[0] == code


@pytest.mark.parametrize("action, payload", [
    ("Reset", {"type": "Soft"}),
    ("ClearCache", {}),
    ("GetConfiguration", {}),
    ("GetConfiguration", {"key": ["HeartbeatInterval"]}),
    ("GetCompositeSchedule", {"connectorId": 1, "duration": 60}),
    ("SetChargingProfile", {"connectorId": 1, "csChargingProfiles": {}}),
    ("DataTransfer", {"vendorId": "x", "data": "anything"}),
])
def test_good_calls_pass(action, payload):
    ocpp_calls.check_call(action, payload)


# ------------------------------------------------------------------ status mapping
def status(r, tx=False, finishing=False, inop=False, reserved=False):
    return ocpp.connector_status(r.c, tx, finishing, inop, reserved)


def test_status_follows_a_session():
    r = Rig(selftest_ms=1000, rcd_present=False)
    r.run(1500)
    assert status(r) == ("Available", "NoError", "")
    assert status(r, reserved=True)[0] == "Reserved"
    assert status(r, inop=True)[0] == "Unavailable"
    r.car = "B"
    r.run(200)
    assert status(r)[0] == "Preparing"  # self-test, no transaction yet
    r.run(1500)
    assert status(r, tx=True)[0] == "SuspendedEV"  # offered, the car waits in B
    r.car = "C"
    r.run(300)
    assert status(r, tx=True)[0] == "Charging"
    r.arbiter.set(7, 0)  # the backend's slot at 0: the charger suspends
    r.run(7000)
    assert status(r, tx=True)[0] == "SuspendedEVSE"
    assert status(r, tx=False, finishing=True)[0] == "Finishing"
    r.car = "A"
    r.run(300)
    assert status(r)[0] == "Available"


@pytest.mark.parametrize("setup, err", [
    ({"temp_dc": 900}, "HighTemperature"),
    ({"leak": True}, "GroundFailure"),
    ({"pe_ok": False}, "GroundFailure"),
    ({"mains_dv": 1200}, "UnderVoltage"),
    ({"mains_dv": 3000}, "OverVoltage"),
    ({"diode": False}, "EVCommunicationError"),
])
def test_faults_are_faulted_with_an_error_code(setup, err):
    r = Rig(selftest_ms=1000, rcd_present=False)
    r.run(1500)
    r.car = "C"
    r.run(1500)
    for k in setup:
        setattr(r, k, setup[k])
    r.run(3000)
    st, code, vendor = status(r, tx=True)
    assert st == "Faulted"
    assert code == err
    assert vendor == str(r.c.fault) and r.c.fault != faults.NONE


def test_unplugging_under_load_is_not_a_fault_for_the_backend():
    r = Rig(selftest_ms=1000, rcd_present=False)
    r.run(1500)
    r.car = "C"
    r.run(3000)
    r.car = "A"
    r.run(100)
    assert r.c.fault == faults.UNPLUGGED
    assert status(r)[0] == "Available"


def test_service_modes_are_unavailable():
    r = Rig(selftest_ms=1000, rcd_present=False)
    r.run(1500)
    r.c.showroom = True
    assert status(r)[0] == "Unavailable"


# -------------------------------------------------------------- configuration keys
def test_required_keys_are_all_there():
    names = [row[0] for row in ocpp_keys.rows()]
    for k in ("HeartbeatInterval", "MeterValueSampleInterval", "MeterValuesSampledData",
              "ConnectionTimeOut", "AuthorizeRemoteTxRequests", "LocalAuthorizeOffline",
              "LocalPreAuthorize", "StopTransactionOnEVSideDisconnect",
              "StopTransactionOnInvalidId", "TransactionMessageAttempts",
              "TransactionMessageRetryInterval", "NumberOfConnectors",
              "SupportedFeatureProfiles", "GetConfigurationMaxKeys", "ResetRetries",
              "ClockAlignedDataInterval", "MeterValuesAlignedData", "StopTxnSampledData",
              "StopTxnAlignedData", "UnlockConnectorOnEVSideDisconnect",
              "ConnectorPhaseRotation", "ChargeProfileMaxStackLevel",
              "ChargingScheduleAllowedChargingRateUnit", "ChargingScheduleMaxPeriods",
              "MaxChargingProfilesInstalled", "LocalAuthListEnabled",
              "LocalAuthListMaxLength", "SendLocalListMaxLength"):
        assert k in names, k
    assert names == sorted(names)
    assert len(names) <= ocpp_keys.defaults()["GetConfigurationMaxKeys"]


@pytest.mark.parametrize("key, value, expect", [
    ("HeartbeatInterval", "60", 60),
    ("HeartbeatInterval", "0", 0),
    ("LocalPreAuthorize", "TRUE", True),
    ("StopTransactionOnInvalidId", "false", False),
    ("MeterValuesSampledData", "Energy.Active.Import.Register, Current.Import",
     "Energy.Active.Import.Register,Current.Import"),
    ("StopTxnSampledData", "", ""),
    ("ConnectorPhaseRotation", "0.RST,1.TSR", "0.RST,1.TSR"),
])
def test_valid_values(key, value, expect):
    assert ocpp_keys.parse_key(ocpp_keys.key_row(key), value) == expect


@pytest.mark.parametrize("key, value", [
    ("HeartbeatInterval", "-5"),
    ("HeartbeatInterval", "abc"),
    ("HeartbeatInterval", "99999999"),
    ("HeartbeatInterval", "1.5"),
    ("LocalPreAuthorize", "yes"),
    ("MeterValuesSampledData", "Energy.Active.Import.Register,SoC"),
    ("MeterValuesSampledData", ",".join(["Voltage"] * 7)),
    ("ConnectorPhaseRotation", "1.ABC"),
    ("ConnectionTimeOut", "5"),
])
def test_invalid_values_are_refused(key, value):
    with pytest.raises(ValueError):
        ocpp_keys.parse_key(ocpp_keys.key_row(key), value)


def test_text_of_values():
    assert ocpp_keys.text(True) == "true" and ocpp_keys.text(0) == "0"
    assert ocpp_keys.text("a,b") == "a,b"


def test_writable_defaults_agree_with_the_key_table():
    rows = {row[0]: row for row in ocpp_keys.rows()}
    assert {k for k in rows if rows[k][5]} == set(ocpp.WRITABLE)
    for k in ocpp.WRITABLE:
        assert rows[k][2] == ocpp.WRITABLE[k], k
