"""Bad input from the backend, and a backend that misbehaves: the firmware in the VM logs
a clear entry, keeps the session and its data, and the charger stays safe."""
import json
import os
import time

from ocpp.v16 import call

from tools.vboard.csms import CentralSystem

CP = "CP1"


def backend(url, **extra):
    cfg = {"backend.enabled": True, "backend.url": url, "backend.charge_point_id": CP,
           "backend.retry_max_s": 2, "backend.schedule_wait_s": 0, "backend.timeout_s": 5}
    cfg.update(extra)
    return cfg


def charging(w):
    return w.status() == "Charging" and w.relay_closed()


def logged(w, text):
    return any(text in line for line in list(w.console))


def answer(cs, mid, timeout=10):
    return cs.wait_for(lambda cs: cs.replies(CP, mid), timeout)[0]


def test_malformed_messages_get_the_right_answer_and_change_nothing(cs, start):
    w = start(backend(cs.url()), plugged=True)
    w.wait_for(charging, 20)
    start = cs.wait_for(lambda cs: cs.calls(CP, "StartTransaction"))[0]
    cs.send_raw(CP, "this is not json")
    w.wait_for(lambda w: logged(w, "backend: frame is not JSON"))
    cs.send_raw(CP, '{"not": "a list"}')
    w.wait_for(lambda w: logged(w, "backend: not an OCPP message"))
    cs.send_raw(CP, '[3,"nobody-asked",{}]')
    w.wait_for(lambda w: logged(w, "backend: answer to no request"))
    cases = [
        ('[2,"u1","FlyToTheMoon",{}]', "NotImplemented"),
        ('[2,"u2","GetLog",{"logType":"DiagnosticsLog","requestId":1,"log":{}}]',
         "NotSupported"),
        ('[2,"u3","Reset",{"type":5}]', "TypeConstraintViolation"),
        ('[2,"u4","Reset",{}]', "OccurenceConstraintViolation"),
        ('[2,"u5","Reset",{"type":"Medium"}]', "PropertyConstraintViolation"),
        ('[2,"u6","ChangeAvailability",{"connectorId":"1","type":"Inoperative"}]',
         "TypeConstraintViolation"),
        ('[2,"u7","Reset"]', "FormationViolation"),
        ('[2,"u8",5,{}]', "FormationViolation"),
        ('[2,"u9","Reset",[1,2]]', "FormationViolation"),
        ('[7,"u10",{}]', "FormationViolation"),
        ('[2,"u11","RemoteStartTransaction",{"idTag":"%s"}]' % ("X" * 40),
         "PropertyConstraintViolation"),
        ('[2,"u12","SetChargingProfile",{"connectorId":1,"csChargingProfiles":'
         '{"chargingProfileId":1,"stackLevel":0,"chargingProfilePurpose":"TxProfile",'
         '"chargingProfileKind":"Relative","chargingSchedule":{"chargingRateUnit":"A",'
         '"chargingSchedulePeriod":[{"startPeriod":"0","limit":6}]}}}]',
         "TypeConstraintViolation"),
        ('[2,"u13","DataTransfer",{"vendorId":"x","data":[1,2]}]', "TypeConstraintViolation"),
        ('[2,"u14","GetConfiguration",{"key":["HeartbeatInterval",5]}]',
         "TypeConstraintViolation"),
    ]
    for text, code in cases:
        cs.send_raw(CP, text)
        mid = json.loads(text)[1]
        got = answer(cs, mid)
        assert got[0] == 4 and got[2] == code, (text, got)
        assert isinstance(got[3], str) and got[4] == {}
    # nothing changed: still charging in the same transaction, the link is up
    assert charging(w) and w.fault() == 0
    assert len(cs.calls(CP, "StartTransaction")) == 1
    assert cs.call(CP, call.GetConfiguration(key=["NumberOfConnectors"])).configuration_key
    time.sleep(2)  # some energy for the meter
    w.set(plugged=False)
    stop = cs.wait_for(lambda cs: cs.calls(CP, "StopTransaction"))[0]
    assert stop["meterStop"] > start["meterStart"]
    assert cs.errors(CP) == []


def test_oversized_frame_is_refused_and_the_link_stays(cs, start):
    w = start(backend(cs.url(), **{"backend.max_frame_kb": 16}), plugged=True)
    w.wait_for(charging, 20)
    cs.wait_for(lambda cs: cs.calls(CP, "StartTransaction"))
    connects = cs.connects[CP]
    big = '[2,"big-1","DataTransfer",{"vendorId":"x","data":"%s"}]' % ("x" * 65536)
    cs.send_raw(CP, big)
    got = answer(cs, "big-1")
    assert got[:3] == [4, "big-1", "GenericError"]
    w.wait_for(lambda w: logged(w, "bytes refused (limit 16 KB)"))
    assert cs.connects[CP] == connects and cs.connected(CP)
    r = cs.call(CP, call.DataTransfer(vendor_id="x", data="small"))
    assert r.status == "UnknownVendorId"
    assert charging(w)


def test_a_backend_that_never_answers(cs, start):
    w = start(backend(cs.url()),
              files={"ocpp.json": json.dumps({"cfg": {
                        "TransactionMessageRetryInterval": 2, "TransactionMessageAttempts": 5}})})
    cs.wait_for(lambda cs: cs.calls(CP, "StatusNotification"))
    cs.answer_calls = False
    w.set(plugged=True)
    w.wait_for(charging, 20)  # charging does not wait for the backend
    cs.wait_for(lambda cs: cs.calls(CP, "StartTransaction"))
    w.wait_for(lambda w: logged(w, "StartTransaction failed (no answer within 5 s), try 1"), 15)
    assert charging(w)
    cs.answer_calls = True
    cs.wait_for(lambda cs: [m for m in cs.messages(CP, "out") if m[0] == 3 and
                            "transactionId" in m[2]], 30)
    starts = cs.calls(CP, "StartTransaction")
    assert len(starts) >= 2 and all(s == starts[0] for s in starts)  # the same message again
    w.set(plugged=False)
    stop = cs.wait_for(lambda cs: cs.calls(CP, "StopTransaction"))[0]
    assert stop["meterStop"] > starts[0]["meterStart"]
    assert cs.errors(CP) == []


def test_boot_never_answered_then_answered(cs, start):
    cs.answer_calls = False
    w = start(backend(cs.url()), plugged=True)
    w.wait_for(charging, 20)
    w.wait_for(lambda w: logged(w, "connection ended: no answer within 5 s"), 20)
    cs.answer_calls = True
    cs.wait_for(lambda cs: cs.calls(CP, "StartTransaction"), 30)
    assert cs.actions(CP).count("BootNotification") >= 2
    assert charging(w)


def test_server_closing_mid_frame(cs, start):
    w = start(backend(cs.url()), plugged=True)
    w.wait_for(charging, 20)
    cs.wait_for(lambda cs: cs.calls(CP, "StartTransaction"))
    cs.cut_mid_frame(CP)
    w.wait_for(lambda w: logged(w, "backend: connection ended: connection closed mid-frame"))
    assert charging(w)
    cs.wait_for(lambda cs: cs.connects[CP] >= 2, 20)  # back again
    w.set(plugged=False)
    stop = cs.wait_for(lambda cs: cs.calls(CP, "StopTransaction"), 20)[0]
    assert stop["reason"] == "EVDisconnected" and isinstance(stop["transactionId"], int)
    assert cs.errors(CP) == []


def test_tls_failure_keeps_the_session_on_flash(cs, start):
    url = cs.url().replace("ws://", "wss://")  # a plain server behind a wss:// URL
    w = start(backend(url), plugged=True)
    w.wait_for(charging, 20)
    w.wait_for(lambda w: logged(w, "TLS failure"), 20)
    seen = set()
    for _ in range(25):  # never connected: off, green flashing only while it retries
        seen.add(w.led_names()[4])
        time.sleep(0.1)
    assert "off" in seen and seen <= {"off", "green"}
    time.sleep(1)
    w.set(plugged=False)
    w.wait_for(lambda w: not w.relay_closed())
    time.sleep(1.5)
    assert not cs.calls(CP)
    # the installer fixes the URL; the queued session arrives
    path = os.path.join(w.state_dir, "config.json")
    with open(path) as f:
        doc = json.load(f)
    doc = doc.get("data", doc)
    doc = doc.get("s", doc)
    doc["backend.url"] = cs.url()
    with open(path, "w") as f:
        json.dump(doc, f)
    boots = w.boots
    w.power_cycle()
    w.wait_for(lambda w: w.boots > boots, 30)
    stop = cs.wait_for(lambda cs: cs.calls(CP, "StopTransaction"), 30)[0]
    start = cs.calls(CP, "StartTransaction")[0]
    assert stop["meterStop"] > start["meterStart"] and stop["reason"] == "EVDisconnected"
    assert cs.errors(CP) == []


def test_basic_auth_refused_then_accepted(start):
    cs = CentralSystem(auth={CP: "0123456789abcdef"}).start()
    try:
        w = start(backend(cs.url(), **{"backend.key": "wrong-key-0123456"}))
        w.wait_for(lambda w: logged(w, "handshake refused: HTTP 401"), 20)
        w.wait_for(lambda w: w.led_names()[4] == "white")  # reachable, not let in
        w2 = start(backend(cs.url(), **{"backend.key": "0123456789abcdef"}))
        cs.wait_for(lambda cs: cs.calls(CP, "StatusNotification"), 30)
        w2.wait_for(lambda w: w.led_names()[4] == "green")
        seen = set()
        for _ in range(20):  # white, flashing green only while it tries again
            seen.add(w.led_names()[4])
            time.sleep(0.1)
        assert "white" in seen and seen <= {"white", "green", "off"}
    finally:
        cs.stop()


def test_a_deeply_nested_frame_gets_an_answer(cs, start):
    w = start(backend(cs.url()), plugged=True)
    w.wait_for(charging, 20)
    cs.wait_for(lambda cs: cs.calls(CP, "StartTransaction"))
    nested = '[2,"deep-1","GetLocalListVersion",{"x":%s%s}]' % ("[" * 4000, "]" * 4000)
    assert len(nested) < 16 * 1024  # under the frame limit
    cs.send_raw(CP, nested)
    got = answer(cs, "deep-1")
    assert got[0] == 4 and got[2] in ("FormationViolation", "GenericError")
    w.wait_for(lambda w: logged(w, "nested too deeply"))
    # the link and the session go on
    assert cs.call(CP, call.GetLocalListVersion()).list_version == 0
    assert charging(w) and cs.connected(CP)
    assert cs.errors(CP) == []
