"""The meter service (services/metering/service.py) in the MicroPython VM against pymodbus: "Test
Connection" answers with live readings or a clear reason, impossible readings are
refused and counted, and the claims, the indicator and the log follow a meter that goes
away and comes back. The rest of the firmware is replaced by the few objects the
service reads (settings, arbiter, charger figures, log, indicators).
"""

import pytest
from test_modbus_vm import House, PymodbusPeer, ScriptedTcp, TCP_CASES, free_port, vm_job

from tools.vboard import meters as sim

VM_SCRIPT = r"""
import asyncio, json, sys
import meter_app
from firmware.core import limits
from firmware.services.metering.service import Meters

with open(sys.argv[1]) as f:
    job = json.load(f)
app = meter_app.make(job["config"], offered_da=job.get("offered_da", 0),
                     relay=job.get("relay", False))
m = Meters(app)


def snapshot():
    a = app.arbiter
    return {"load": a.claims[limits.LOAD], "fallback": a.claims[limits.METER_FALLBACK],
            "solar": a.claims[limits.SOLAR], "lost": app.panel.front.meter_lost,
            "rejected": m.impl.grid.rejected if m.impl and m.impl.grid else None,
            "log": [e[3] for e in app.log.entries]}


async def main():
    for step in job["steps"]:
        if step[0] == "test":
            print(json.dumps({"test": await m.test_connection(step[1])}))
        elif step[0] == "start":  # the service runs on in the background
            asyncio.create_task(m.run())
            await asyncio.sleep_ms(step[1])
        elif step[0] == "set":  # a Save: the settings change, the service polls later
            app.config.values.update(step[1])
        elif step[0] == "run":
            t = asyncio.create_task(m.run())
            await asyncio.sleep_ms(step[1])
            print(json.dumps(snapshot()))
            t.cancel()
            await asyncio.sleep_ms(10)
            print(json.dumps(snapshot()))


asyncio.run(main())
"""


def run_vm(job, timeout=60):
    out, output = vm_job(VM_SCRIPT, job, timeout=timeout)
    assert out, output
    return out


@pytest.fixture
def peer():
    p = PymodbusPeer()
    yield p
    p.stop()


def tcp_config(port, model="sdm630", **extra):
    cfg = {"meter.enabled": True, "meter.transport": "tcp", "meter.host": "127.0.0.1",
           "meter.port": port, "meter.model": model, "meter.address": 1,
           "meter.poll_ms": 200, "meter.timeout_ms": 300, "meter.lost_s": 2}
    cfg.update(extra)
    return cfg


def test_test_connection_returns_live_readings(peer):
    house = House(amps=(12.0, 3.0, 0.0))
    port = free_port()
    peer.tcp([sim.device(sim.Meter("grid", "sdm630", 1), house),
              sim.device(sim.Meter("solar", "sdm630", 2), House(solar_w=2300.0))], port)
    cfg = tcp_config(port, **{"solar.enabled": True, "solar.host": "127.0.0.1",
                              "solar.port": port, "solar.address": 2})
    out = run_vm({"config": cfg, "steps": [["test", "grid"], ["test", "solar"]]})
    grid = out[0]["test"]
    assert grid["ok"] and grid["values"]["i1"] == 120 and grid["values"]["v1"] == 2300
    assert grid["values"]["p2"] == 690
    solar = out[1]["test"]
    assert solar["ok"] and solar["values"]["pt"] == 2300


@pytest.mark.parametrize("case,want", [
    ("refused", "refused"), ("never answers", "timeout"), ("exception", "exception 2"),
    ("wrong model", "wrong model (v1)"), ("no address", "no address"),
    ("bad custom map", "model")])
def test_test_connection_gives_a_clear_reason(peer, case, want):
    if case == "refused":
        cfg = tcp_config(free_port())
    elif case in ("never answers", "exception"):
        srv = ScriptedTcp([TCP_CASES[case][0]] * 3)
        cfg = tcp_config(srv.port)
    elif case == "wrong model":  # an EM340 (integers) read as an SDM630 (floats)
        port = free_port()
        peer.tcp([sim.device(sim.Meter("grid", "em340", 1), House())], port)
        cfg = tcp_config(port)
    elif case == "no address":
        cfg = tcp_config(502, **{"meter.host": ""})
    else:
        cfg = tcp_config(502, **{"meter.model": "custom", "meter.custom": "fc4 v=0:f99:0"})
    out = run_vm({"config": cfg, "steps": [["test", "grid"]]})
    assert out[0]["test"] == {"ok": False, "error": want}


def test_test_connection_right_after_save_tests_the_saved_settings(peer):
    """Issue 13.6: the running meter polls a live port; Save moves it to a port where
    nothing listens; Test Connection at once must test that port, not answer with the
    running meter's readings."""
    port = free_port()
    peer.tcp([sim.device(sim.Meter("grid", "sdm630", 1), House(amps=(12.0, 3.0, 0.0)))],
             port)
    cfg = tcp_config(port, **{"meter.poll_ms": 5000})  # the next poll is seconds away
    out = run_vm({"config": cfg, "steps": [
        ["test", "grid"], ["start", 1000], ["test", "grid"],
        ["set", {"meter.port": free_port()}], ["test", "grid"],
        ["set", {"meter.port": port}], ["test", "grid"]]})
    assert out[0]["test"]["ok"] and out[1]["test"]["ok"]  # before the Save: live
    assert out[2]["test"] == {"ok": False, "error": "refused"}
    assert out[3]["test"]["ok"] and out[3]["test"]["values"]["i1"] == 120


def test_test_connection_over_rtu_with_nothing_on_the_line():
    cfg = {"meter.enabled": True, "meter.transport": "rtu", "meter.timeout_ms": 200}
    out = run_vm({"config": cfg, "steps": [["test", "grid"]]})
    assert out[0]["test"] == {"ok": False, "error": "timeout"}


def test_claims_indicator_and_log_follow_the_meter(peer):
    port = free_port()
    house = House(amps=(20.0, 5.0, 5.0))
    peer.tcp([sim.device(sim.Meter("grid", "sdm630", 1), house)], port)
    out = run_vm({"config": tcp_config(port, **{"house.fuse_a": 32}),
                  "steps": [["run", 1500]]})
    running, stopped = out
    assert running["load"] == 320 - 200 and running["fallback"] == 10000
    assert not running["lost"] and running["rejected"] == 0
    assert stopped["load"] == 10000  # the task ended: no stale claim is left behind

    out = run_vm({"config": tcp_config(free_port()), "steps": [["run", 3000]]})
    lost = out[0]
    assert lost["fallback"] == 100 and lost["load"] == 10000 and lost["lost"]
    assert "meter lost: refused" in lost["log"]
    assert out[1]["fallback"] == 10000 and not out[1]["lost"]


def test_impossible_readings_are_refused_counted_and_logged_once(peer):
    port = free_port()
    peer.tcp([sim.device(sim.Meter("grid", "em340", 1), House())], port)
    out = run_vm({"config": tcp_config(port, **{"meter.lost_s": 60}),
                  "steps": [["run", 1500]]})
    r = out[0]
    assert r["rejected"] >= 4
    assert r["log"].count("meter reading rejected: wrong model (v1)") == 1
    assert r["load"] == 100 and r["fallback"] == 10000  # no reading yet: 10 A, no alarm
    assert not r["lost"]


def test_solar_mode_without_any_meter_never_charges():
    out = run_vm({"config": {"charging.mode": "solar"}, "steps": [["run", 500]]})
    assert out[0]["solar"] == 0
    out = run_vm({"config": {"charging.mode": "min+solar"}, "steps": [["run", 500]]})
    assert out[0]["solar"] == 60
    out = run_vm({"config": {}, "steps": [["run", 500]]})
    assert out[0]["solar"] == 10000 and out[0]["load"] == 10000


def test_without_current_transformers_the_cars_draw_counts_as_house_load(peer):
    """A board that cannot measure the car (phase_da -1) must not assume the car draws
    what it is offered: if it drew less, the headroom would be overstated."""
    port = free_port()
    house = House(amps=(20.0, 5.0, 5.0))  # the meter sees 20 A on L1, the car included
    peer.tcp([sim.device(sim.Meter("grid", "sdm630", 1), house)], port)
    out = run_vm({"config": tcp_config(port, **{"house.fuse_a": 32}), "relay": True,
                  "offered_da": 160, "steps": [["run", 1500]]})
    assert out[0]["load"] == 320 - 200  # not 320 - 200 + 160
