"""OCPP 1.6J pure logic: time stamps, payload checks and their OCPP-J error codes, the
connector status from the charging core, configuration keys."""
import pytest

from firmware.core import faults, ocpp, ocpp_calls, ocpp_keys
from firmware.core.ocpp import CallError
from firmware.core.ticks import ticks_add
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
    ("GetConfiguration", {"key": ["HeartbeatInterval", 5]}, "TypeConstraintViolation"),
    ("DataTransfer", {"vendorId": "x", "data": [1, 2]}, "TypeConstraintViolation"),
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


@pytest.mark.parametrize("text, deep", [
    (b'[2,"1","GetLocalListVersion",{"x":' + b"[" * 4000 + b"]" * 4000 + b"}]", True),
    (b'[2,"1","Reset",{"type":"Soft"}]', False),
    (b'[2,"1","X",{"a":' + b"[" * 14 + b"]" * 14 + b"}]", False),  # 16 levels
    (b'[2,"1","X",{"a":' + b"[" * 15 + b"]" * 15 + b"}]", True),  # 17 levels
    (b'[2,"1","X",{"a":"' + b"[{" * 100 + b'"}]', False),  # brackets in a text
    (b'[2,"1","X",{"a":"\\"' + b"[{" * 100 + b'"}]', False),  # after an escaped quote
    (b'[2,"1","X",{"a":"\\\\",' + b'"b":' + b"[" * 20 + b"]" * 20 + b"}]", True),
])
def test_nesting_is_measured_by_a_linear_scan(text, deep):
    assert ocpp.too_deep(text, 16) == deep
    assert ocpp.too_deep(bytearray(text), 16) == deep


@pytest.mark.parametrize("connector, operative, was, got", [
    (1, False, (False, False), ("Accepted", True, False)),  # connector 1 only
    (0, False, (False, False), ("Accepted", True, True)),  # the charge point: all of it
    (1, True, (True, False), ("Accepted", False, False)),
    (1, True, (True, True), ("Rejected", True, True)),  # the charge point stays Inoperative
    (0, True, (True, True), ("Accepted", False, False)),  # every connector with it
    (0, True, (True, False), ("Accepted", False, False)),
    (1, False, (True, True), ("Accepted", True, True)),
    (0, False, (True, False), ("Accepted", True, True)),
])
def test_change_availability_of_connector_0_is_the_whole_charge_point(connector, operative,
                                                                       was, got):
    assert ocpp_calls.availability(connector, operative, was[0], was[1]) == got


# ------------------------------------------------------------------ energy register
def test_register_starts_a_transaction_where_the_relay_closes():
    t = ticks_add(0, -30000)  # 30 s before the wrap
    reg = ocpp.Register(0, t)
    t = ticks_add(t, 500)
    reg.update(t, 22080)  # the relay closed during this interval: nothing flowed before
    meter_start = reg.wh  # the transaction starts here
    assert meter_start == 0
    for _ in range(20):  # 10 s at 22 kW
        t = ticks_add(t, 500)
        reg.update(t, 22080)
    assert reg.wh - meter_start == 61  # 22080 W x 10 s = 61.3 Wh
    t = ticks_add(t, 500)
    reg.update(t, 0)  # opened during this interval: what flowed until then counts
    assert reg.wh - meter_start == 64  # 10.5 s
    for _ in range(4):
        t = ticks_add(t, 500)
        reg.update(t, 0)
    assert reg.wh - meter_start == 64


def test_register_keeps_fractions_and_its_value():
    reg = ocpp.Register(1000, 0)
    reg.update(0, 3600)
    for t in range(100, 3700, 100):  # 3.6 s at 3600 W: 3.6 Wh
        reg.update(t, 3600)
    assert reg.wh == 1003
    reg.update(3700, 3600)
    assert reg.wh == 1003  # 3.7 Wh
    for t in range(3800, 4100, 100):
        reg.update(t, 3600)
    assert reg.wh == 1004  # 4.0 Wh: no fraction lost


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
