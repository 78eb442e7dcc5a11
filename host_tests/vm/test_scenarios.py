"""Scenarios on the virtual board: the unchanged firmware in the VM, a simulated car."""
import time

from tier import count

CODE = {  # the manual's colour sequences
    1: ["white", "white", "white", "red"], 3: ["white", "white", "orange", "orange"],
    5: ["white", "red", "white", "red"], 8001: ["blue", "blue", "blue", "red"],
    8002: ["blue", "blue", "red", "blue"], 4003: ["blue", "blue", "red", "red"],
    8005: ["blue", "red", "blue", "red"],
}


def segments(w):
    return w.led_names()[:4]


def charging(w):
    return w.status() == "Charging" and w.relay_closed()


def test_full_session(start_board):
    w = start_board()
    w.wait_for(lambda w: segments(w) == ["blue"] * 4)
    assert not w.relay_closed()
    w.set(plugged=True, car_state="B")
    w.wait_for(lambda w: segments(w) == ["orange"] * 4)  # self-test
    w.wait_for(lambda w: w.status() == "ReadyForCharging" and w.state()["pilot"]["pwm_on"])
    assert w.state()["pilot"]["offered_a"] == 32.0 and not w.relay_closed()
    w.set(car_state="C")
    w.wait_for(charging)
    st = w.state()
    assert st["pilot"]["duty_pct"] == 53.32
    w.wait_for(lambda w: abs(w.state()["firmware"]["current_a"] - 32.0) <= 0.2)  # measured
    w.wait_for(lambda w: segments(w) == ["off"] * 4, timeout=3)  # flashing blue
    w.wait_for(lambda w: segments(w) == ["blue"] * 4, timeout=3)
    w.set(car_state="B")
    w.wait_for(lambda w: not w.relay_closed() and w.status() == "ReadyForCharging")
    w.set(plugged=False)
    w.wait_for(lambda w: w.status() == "Idle")
    assert w.fault() == 0


def relay_opened_after(w, t0):
    for t, kind, ident, value in w.events:
        if kind == "pin" and ident == 3 and value == 0 and t >= t0:
            return t
    return None


def test_unplug_while_charging_opens_the_relay_at_once(start_board):
    w = start_board(plugged=True)
    w.wait_for(charging)
    t0 = w.set(plugged=False)  # reaction time: tools/bench measures it
    w.wait_for(lambda w: relay_opened_after(w, t0) is not None, timeout=2)
    w.wait_for(lambda w: w.fault() == 1)
    w.wait_for(lambda w: segments(w) == CODE[1])


def fault_shown(w, code):
    return w.fault() == code and segments(w) == CODE[code]


def test_missing_diode_is_fault_5(start_board):
    w = start_board(plugged=True, diode=False)
    w.wait_for(lambda w: fault_shown(w, 5))
    assert not w.relay_closed()


def test_relay_that_does_not_close_is_8001(start_board):
    w = start_board(plugged=True, relay_dead=True)
    w.wait_for(lambda w: fault_shown(w, 8001), timeout=15)
    assert not w.relay_closed()


def test_mains_out_of_range_is_8002_and_recovers(start_board):
    w = start_board(plugged=True)
    w.wait_for(charging)
    w.set(mains_v=150.0)
    w.wait_for(lambda w: fault_shown(w, 8002))
    assert not w.relay_closed()
    w.set(mains_v=230.0)
    w.wait_for(charging, timeout=15)


def test_overcurrent_is_4003(start_board):
    w = start_board(plugged=True)
    w.wait_for(charging)
    w.set(overdraw_a=8.0)
    w.wait_for(lambda w: fault_shown(w, 4003), timeout=15)
    assert not w.relay_closed()


def test_residual_current_is_8005(start_board):
    w = start_board(plugged=True)
    w.wait_for(charging)
    t0 = w.set(residual_ma=10.0)
    w.wait_for(lambda w: relay_opened_after(w, t0) is not None, timeout=2)
    w.wait_for(lambda w: fault_shown(w, 8005))


def test_failed_detector_selftest_is_8005(start_board):
    w = start_board(rcd_healthy=False)
    w.set(plugged=True)
    w.wait_for(lambda w: fault_shown(w, 8005))
    assert not w.relay_closed()


def test_five_retries_then_latched_until_unplug(start_board):
    w = start_board(plugged=True, diode=False)
    w.wait_for(lambda w: w.state()["firmware"]["latched"], timeout=40)
    fw = w.state()["firmware"]
    assert fw["retries"] == 5 and w.status() == "UnrecoverableError"
    time.sleep(2.5)
    assert w.state()["firmware"]["retries"] == 5 and not w.relay_closed()
    w.set(plugged=False, diode=True)
    w.wait_for(lambda w: w.status() == "Idle")
    w.set(plugged=True)
    w.wait_for(charging)


def test_over_temperature_cycle(start_board):
    w = start_board(plugged=True)
    w.wait_for(charging)
    w.set(temp_c=68.0)
    w.wait_for(lambda w: w.status() == "Degraded")
    w.set(temp_c=80.0)
    w.wait_for(lambda w: fault_shown(w, 3))
    assert not w.relay_closed()
    w.wait_for(lambda w: segments(w) == ["off", "off", "orange", "orange"], timeout=8)
    w.set(temp_c=40.0)
    w.wait_for(charging, timeout=15)


def test_welded_relay_is_permanent_red(start_board):
    w = start_board(plugged=True)
    w.wait_for(charging)
    w.set(relay_welded=True, plugged=False)
    # one wait for all three: the telemetry reports status and fault as separate records
    w.wait_for(lambda w: segments(w) == ["red"] * 4 and w.status() == "UnrecoverableError"
               and w.fault() == 8007)
    w.set(plugged=True)
    time.sleep(2)
    assert w.status() == "UnrecoverableError" and not w.relay_closed()


def test_protective_earth_fault_is_permanent_red(start_board):
    w = start_board()
    w.set(pe_ok=False)
    w.wait_for(lambda w: segments(w) == ["red"] * 4 and w.fault() == 8008)


def test_state_d_refused_without_ventilation_allowed_with(start_board):
    w = start_board(plugged=True, car_state="D")
    w.wait_for(lambda w: w.status() == "ReadyForCharging" and w.state()["pilot"]["pwm_on"])
    time.sleep(1.5)
    assert not w.relay_closed()
    w2 = start_board({"charging.ventilation": True}, plugged=True, car_state="D")
    w2.wait_for(charging)


def test_showroom_never_closes_the_relay(start_board):
    w = start_board({"device.showroom": True}, plugged=True)
    time.sleep(4)
    assert not w.relay_closed() and not any(
        k == "pin" and i == 3 and v == 1 for _, k, i, v in w.events)
    assert w.status() == "Suspended"


def test_dip_zero_is_commissioning_mode(start_board):
    w = start_board(dip=0)
    w.wait_for(lambda w: w.status() == "ServiceMode" and
               segments(w) == ["off", "orange", "orange", "off"])
    w.set(plugged=True)
    time.sleep(2)
    assert not w.relay_closed()


def test_sleeping_car_wakes_after_the_pulse(start_board):
    w = start_board({"charging.wake_after_s": 5}, plugged=True, sleeping=True)
    w.wait_for(lambda w: w.state()["pilot"]["pwm_on"])
    w.wait_for(lambda w: w.state()["pilot"]["state_f"], timeout=8)
    w.wait_for(charging, timeout=8)


def test_service_button_restarts_the_board(start_board):
    w = start_board()
    w.press("service", 2500)
    w.wait_for(lambda w: w.state()["buzzer_hz"] > 0, timeout=4)  # first signal tone
    w.wait_for(lambda w: w.boots == 2, timeout=10)
    w.wait_for(lambda w: w.status() == "Idle", timeout=10)


def stall_episodes(w):
    """Pilot-sampling stall episodes so far (VBOARD_PILOT_STALL, tools/vboard/vm/machine.py)."""
    n = [int(x.rsplit(" ", 1)[1]) for x in list(w.console) if "pilot stall episode" in x]
    return n[-1] if n else 0


def test_stalled_pilot_sampling_never_faults_yet_a_missing_diode_does(start_board):
    """Issue 13.4: the sampling stalls again and again in episodes of up to 300 ms, so
    bursts miss a plateau, often many in a row (the field saw fault 5 ten times in 40 min
    on a busy host). An interrupted burst is no evidence: episodes (an episode every
    0.5-2.5 s; 12, the full tier 40), each cutting many bursts, and not one fault while
    the healthy car charges. A real missing diode, with the stalls going on, still faults
    (within 4 complete bursts: host_tests/core)."""
    w = start_board(plugged=True, env={"VBOARD_PILOT_STALL": "300"})
    w.wait_for(charging, timeout=20)
    first = stall_episodes(w)
    episodes = count(12, 40)
    w.wait_for(lambda w: stall_episodes(w) >= first + episodes or w.fault() != 0,
               timeout=6 * episodes)
    st = w.state()["firmware"]
    assert st["fault"] == 0 and st["last_fault"] == 0 and st["retries"] == 0
    assert charging(w)
    assert not [x for x in w.console if "[fault]" in x]
    w.set(diode=False)
    w.wait_for(lambda w: w.fault() == 5 and not w.relay_closed())
