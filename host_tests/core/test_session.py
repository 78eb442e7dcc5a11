"""A charging session (core/session.py): currents, power, energy, start, end and card."""
from firmware.core import session as se

NO_CT = [-1, -1, -1]


def test_currents_from_the_current_transformers_when_the_board_has_them():
    assert se.phase_da([160, 155, -3], True, 100, 1) == [160, 155, 0]
    assert se.phase_da([0, 0, 0], False, 100, 3) == [0, 0, 0]


def test_currents_from_the_vehicle_on_the_configured_phases_without_them():
    assert se.phase_da(NO_CT, True, 160, 3) == [160, 160, 160]
    assert se.phase_da(NO_CT, True, 160, 1) == [160, 0, 0]
    assert se.phase_da(NO_CT, False, 160, 3) == [0, 0, 0]  # relay open: nothing flows
    assert se.phase_da(NO_CT, True, -1, 3) == [0, 0, 0]  # no reading yet


def test_power_from_the_mains_voltage_or_230_v():
    assert se.power_w([160, 160, 160], 2300, True) == 11040
    assert se.power_w([160, 0, 0], -1, True) == 3680
    assert se.power_w([160, 0, 0], 2400, True) == 3840
    assert se.power_w([160, 0, 0], 2300, False) == 0


def test_a_session_from_plug_in_to_unplug():
    s = se.Session()
    assert s.update(False, 0, 1000, None) == se.NOTHING
    assert s.update(True, 0, 1000, None) == se.STARTED and s.count == 1 and s.plugged
    for _ in range(3600):  # an hour at 11 kW, sampled once a second
        assert s.update(True, 11000, 1000, None) == se.NOTHING
    assert s.wh == 10998  # the first second ramps up from 0 W: half of it is counted
    assert s.update(False, 0, 1000, None) == se.ENDED and not s.plugged
    assert s.wh == 11000  # and the last one ramps down: the two halves make it whole
    assert s.update(False, 0, 1000, None) == se.NOTHING
    assert s.wh == 11000  # the last session's energy stays until the next one


def test_energy_keeps_the_fractions_of_a_watt_hour():
    s = se.Session()
    s.update(True, 0, 0, None)
    s.update(True, 1800, 0, None)
    for _ in range(7200):  # 0.5 Wh per sample of 1.8 kW for 1 s
        s.update(True, 1800, 1000, None)
    assert s.wh == 3600


def test_a_new_session_starts_from_zero_without_a_card():
    s = se.Session()
    s.update(True, 0, 0, None)
    s.update(True, 7200, 0, "04A1B2C3")
    s.update(True, 7200, 1000, "04A1B2C3")
    s.update(False, 0, 1000, "04A1B2C3")
    assert s.wh == 3 and s.card == "04A1B2C3"  # 2 Wh, and half a second's at the unplug
    assert s.update(True, 0, 0, None) == se.STARTED
    assert s.wh == 0 and s.card == "" and s.count == 2


def test_the_first_card_holding_the_authorization_is_the_sessions():
    s = se.Session()
    s.update(True, 0, 0, None)
    s.update(True, 0, 1000, "")  # granted without a card (authorization off)
    assert s.card == ""
    s.update(True, 0, 1000, "04A1B2C3")  # tapped after plugging in
    s.update(True, 0, 1000, None)  # its own tap ended it before the unplug
    s.update(True, 0, 1000, "0411223344")  # another card takes over
    assert s.card == "04A1B2C3"
