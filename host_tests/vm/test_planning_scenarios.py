"""Intelligent charging without a backend on the virtual board (docs/planning.md): the
unchanged firmware in the VM with its wall clock set just before a quarter-hour
(VBOARD_CLOCK), so the plan's next slot begins within seconds; the price feed's refresh
on the time scale (start_board(scaled=True): a "minute" of price.refresh_min is 6 s).

2026-12-03 is a Thursday; with time.utc_offset_min 60 and no DST, 21:00 UTC is 22:00
local time, where the tariff table below gets cheap.
"""
import calendar
import json
import os
import time

import pytest
from fileserver import FileServer
from test_mqtt_scenarios import broker, observer  # noqa: F401 - fixtures

from tools.vboard.broker import MOSQUITTO

NIGHT = "* 22-06 0.18; * 06-22 0.30"
BEFORE_22 = calendar.timegm((2026, 12, 3, 20, 59, 42))  # 21:59:42 local


def fw(w):
    return w.state()["firmware"]


def charging(w):
    return w.status() == "Charging" and w.relay_closed()


def paused_by_plan(w):
    return fw(w)["limit_source"] == "plan" and not w.relay_closed()


def mode_led(w):
    return w.led_names()[5]


def touch(w):
    """A finger's short press and release, and the pause before it can press again (the
    firmware polls the button every 20 ms and debounces 30 ms: input, not a wait for a
    result)."""
    w.press("touch", 200)
    w.wait_for(lambda w: not w.inputs["touch_button"])
    time.sleep(0.3)


def planned(extra=None):
    cfg = {"plan.mode": "intelligent", "plan.tariff": NIGHT, "plan.energy_kwh": 10,
           "plan.departure_min": 7 * 60, "time.utc_offset_min": 60, "plan.dst": "none"}
    cfg.update(extra or {})
    return cfg


def test_overnight_plan_waits_for_the_cheap_tariff(start_board):
    w = start_board(planned(), env={"VBOARD_CLOCK": str(BEFORE_22)}, plugged=True)
    # 21:59: the dear tariff; the car waits, the mode indicator says intelligent
    w.wait_for(lambda w: paused_by_plan(w) and mode_led(w) == "white", timeout=20)
    w.wait_for(charging, timeout=40)  # 22:00: the cheapest slots come first
    # the whole 10 kWh in the first cheap hours (its value may trail the status by a report)
    w.wait_for(lambda w: fw(w)["offered_a"] == 32.0, timeout=5)
    assert mode_led(w) == "white"


def test_touch_button_switches_immediate_and_intelligent(start_board):
    w = start_board(planned(), env={"VBOARD_CLOCK": str(BEFORE_22 - 600)}, plugged=True)
    w.wait_for(paused_by_plan, timeout=20)
    w.wait_for(lambda w: mode_led(w) == "white" and w.led_names()[8] == "white")
    touch(w)
    w.wait_for(charging, timeout=15)  # immediate: charges at once
    w.wait_for(lambda w: mode_led(w) == "green")
    touch(w)
    w.wait_for(paused_by_plan, timeout=15)  # intelligent again: waits for 22:00
    w.wait_for(lambda w: mode_led(w) == "white")
    w.set(plugged=False)
    w.wait_for(lambda w: mode_led(w) == "blue")  # ready, no vehicle


def test_a_feed_update_mid_session_moves_the_plan(start_board):
    srv = FileServer()
    start = calendar.timegm((2026, 12, 3, 20, 0, 0))
    dear_now = {"start": "2026-12-03T20:00:00Z", "interval_min": 60,
                "prices": [0.5, 0.1, 0.1, 0.1, 0.1, 0.1]}
    srv.files["/prices.json"] = json.dumps(dear_now).encode()
    try:
        w = start_board(planned({"price.url": srv.url("/prices.json"), "price.refresh_min": 1,
                                 "plan.tariff": ""}),
                        env={"VBOARD_CLOCK": str(start + 600)}, plugged=True, scaled=True)
        w.wait_for(paused_by_plan, timeout=30)  # 20:10 UTC costs 0.5: wait for 21:00
        cheap_now = dict(dear_now, prices=[0.05, 0.2, 0.2, 0.2, 0.2, 0.2])
        srv.files["/prices.json"] = json.dumps(cheap_now).encode()
        w.wait_for(charging, timeout=40)  # the next fetch (6 s scaled) re-plans: now
    finally:
        srv.stop()


def test_capacity_limit_with_a_house_load_step(start_board):
    """11 kW as the 15-minute average, steered 3 % under it (10.67 kW): with an idle
    house the car gets ~15.5 A on three phases; 10 A more on L1 in the house (2.3 kW)
    leaves it ~12.1 A at the next polls."""
    cfg = {"meter.enabled": True, "meter.transport": "rtu", "meter.model": "sdm630",
           "meter.address": 1, "house.fuse_a": 63, "meter.lost_s": 10,
           "capacity.enabled": True, "capacity.limit_w": 11000}
    w = start_board(cfg, plugged=True)
    w.wait_for(charging, 20)
    w.wait_for(lambda w: fw(w)["limit_source"] == "capacity tariff" and
               15.0 <= fw(w)["offered_a"] <= 17.0, timeout=20)
    w.set(house_l1_a=10.0)
    w.wait_for(lambda w: 11.5 <= fw(w)["offered_a"] <= 13.5, timeout=20)
    assert fw(w)["limit_source"] == "capacity tariff" and charging(w)


def test_a_backend_schedule_overrides_the_local_plan(cs, start):
    """The backend online without a schedule: the local plan pauses for its dear hours.
    A TxProfile arrives: the backend's schedule wins (docs/decisions.md). The clock is
    the real one (the backend sets it), so the tariff is dear for the next two hours."""
    from ocpp.v16 import call
    h = time.gmtime().tm_hour
    tariff = "* %02d-%02d 0.50; * 0-24 0.10" % (h, (h + 2) % 24)
    w = start(planned({"backend.enabled": True, "backend.url": cs.url(),
                       "backend.charge_point_id": "CP1", "backend.retry_max_s": 2,
                       "backend.schedule_wait_s": 0, "plan.tariff": tariff,
                       "time.utc_offset_min": 0, "plan.departure_min": (h + 8) % 24 * 60}))
    cs.wait_for(lambda cs: cs.calls("CP1", "StatusNotification"), 30)
    w.set(plugged=True)
    w.wait_for(paused_by_plan, timeout=20)
    tx = cs.wait_for(lambda cs: [m for m in cs.messages("CP1", "out") if m[0] == 3 and
                                 "transactionId" in m[2]])[0][2]["transactionId"]
    profile = {"chargingProfileId": 5, "stackLevel": 0, "transactionId": tx,
               "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Relative",
               "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [
                   {"startPeriod": 0, "limit": 16}]}}
    assert cs.call("CP1", call.SetChargingProfile(
        connector_id=1, cs_charging_profiles=profile)).status == "Accepted"
    w.wait_for(lambda w: charging(w) and fw(w)["limit_source"] == "backend" and
               fw(w)["offered_a"] == 16.0, timeout=20)


def test_the_plan_on_the_local_api(start_board):
    from webclient import Client, start_web_board
    w = start_web_board(start_board, planned(), env={"VBOARD_CLOCK": str(BEFORE_22 - 3600)})
    c = Client(w).set_up()
    token = c.post("/api/tokens", {"label": "home automation"})[1]["token"]
    api = Client(w)
    st, r, _ = api.post("/api/v1/plan", {"departure": "23:00"}, token=token)
    assert st == 409 and "no vehicle" in r["error"]
    w.set(plugged=True)
    w.wait_for(paused_by_plan, timeout=20)  # 21:00 local: dear until 22:00
    for bad in ({"mode": "fast"}, {"departure": "25:00"}, {"energy_kwh": -1},
                {"departure": 1}, {"colour": "red"}, {}):
        st, r, _ = api.post("/api/v1/plan", bad, token=token)
        assert st == 400 and r["error"], bad
    st, p, _ = api.post("/api/v1/plan", {"departure": "23:00", "energy_kwh": 5}, token=token)
    assert st == 200 and p["mode"] == "intelligent" and p["state"] == "planned"
    cheap = BEFORE_22 + 18  # 22:00 local
    assert p["departure"] == cheap + 3600 and p["missing_wh"] == 0
    assert p["need_wh"] == 5000 - api.get("/api/v1/status", token=token)[1]["energy_wh"]
    # 5 kWh fit in the first cheap quarter-hour: 5000 Wh / (690 W/A x 0.25 h) = 29 A
    assert [r for r in p["timeline"] if r[2] > 0] == [[cheap, cheap + 900, 29.0, 0.18]]
    assert p["complete_at"] == cheap + 900
    assert abs(p["cost"] - 5 * 0.18) < 0.01
    assert api.get("/api/v1/status", token=token)[1]["plan"]["timeline"] == p["timeline"]
    st, p, _ = api.post("/api/v1/plan", {"mode": "immediate"}, token=token)
    assert st == 200 and p["mode"] == "immediate" and "timeline" not in p
    w.wait_for(charging, timeout=15)


@pytest.mark.skipif(not os.path.exists(MOSQUITTO) and not os.environ.get("CI"),
                    reason="Debian's mosquitto is not installed (.ci/run does)")
def test_the_plan_on_mqtt(start, broker, observer):  # noqa: F811 - the fixtures
    """The plan in <base>/state and set by <base>/set/plan (a JSON object as the local
    API's); a bad one is logged and changes nothing."""
    import test_mqtt_scenarios as m
    o = observer
    w = m.board(start, planned(m.mqtt_config(broker.port, **{"charging.max_current_a": 32})),
                env={"VBOARD_CLOCK": str(BEFORE_22 - 3600)})
    o.wait(lambda o: o.last(m.BASE + "/availability") == b"online", 30)
    w.set(plugged=True)
    w.wait_for(paused_by_plan, timeout=20)
    o.wait(lambda o: m.state(o)["plan"]["state"] == "planned")
    o.send(m.BASE + "/set/plan", '{"departure": "99:00"}')
    w.wait_for(lambda w: m.logged(w, "set/plan"), 10)
    o.send(m.BASE + "/set/plan", '{"energy_kwh": 5, "departure": "23:00"}')
    o.wait(lambda o: m.state(o)["plan"].get("departure") == BEFORE_22 + 18 + 3600)
    assert m.state(o)["plan"]["complete_at"] == BEFORE_22 + 18 + 900
    o.send(m.BASE + "/set/plan", '{"mode": "immediate"}')
    w.wait_for(charging, timeout=15)
    o.wait(lambda o: m.state(o)["plan"]["mode"] == "immediate")
