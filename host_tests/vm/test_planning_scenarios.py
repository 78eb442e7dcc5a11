"""Intelligent charging without a backend on the virtual board (docs/planning.md): the
unchanged firmware in the VM with its wall clock set just before a quarter-hour
(VBOARD_CLOCK), so the plan's next slot begins within seconds; the price feed's refresh
on the time scale (start_board(scaled=True): a "minute" of price.refresh_min is 6 s).

2026-12-03 is a Thursday; with time.utc_offset_min 60 and no DST, 21:00 UTC is 22:00
local time, where the tariff table below gets cheap.
"""
import calendar
import json
import time

from fileserver import FileServer

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
    assert fw(w)["offered_a"] == 32.0  # the whole 10 kWh in the first cheap hours
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
