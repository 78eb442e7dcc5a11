"""Authorization by RFID card (core/auth.py): whitelist, 60 s window, session binding,
master card, card programming, tap detection, indicator patterns and tones.

Runs on CPython and in the MicroPython VM: plain asserts, pytest.raises, parametrize.
Time starts 30 s before the tick counter wraps, so every timeout crosses the wrap.
"""
import pytest

from firmware.core import auth
from firmware.core import pilot as cp
from firmware.core.faults import GREEN, OFF, ORANGE, RED, WHITE
from firmware.core.front import SLOW, Front
from firmware.core.ticks import ticks_add

NEAR_WRAP = ticks_add(0, -30000)
STARTS = [NEAR_WRAP, ticks_add(0, -59999), ticks_add(0, -4999), 1000]
MASTER = "04112233445566"
ANNA = "A1B2C3D4"
BERT = "04AABBCCDDEEFF001122"
NEW = "C0FFEE01"
STRANGER = "DEADBEEF"


def doc(*cards, master=MASTER, version=3):
    c = {MASTER: "master"} if master else {}
    for uid in cards:
        c[uid] = ""
    return {"version": version, "master": master, "cards": c}


class Box:
    """An Auth with a clock, a pilot state and a front, polled like the service does."""

    def __init__(self, start=NEAR_WRAP, enabled=True, cards=(ANNA, BERT), master=MASTER):
        self.now = start
        self.vehicle = False
        self.state = cp.A
        self.a = auth.Auth(start)
        self.a.use(doc(*cards, master=master))
        self.a.enable(enabled, self.vehicle)
        self.front = Front()
        self.out = []  # outcomes of polls and updates, in order

    @property
    def state(self):
        return self._state

    @state.setter
    def state(self, value):  # the pilot's state; `vehicle` follows as the classifier's does
        self._state = value
        self.vehicle = cp.present(value, self.vehicle)

    def at(self, ms):
        return ticks_add(self.now, ms)

    def wait(self, ms, step=200):
        """Let time pass with an empty field; returns the outcomes meanwhile."""
        got = []
        while ms > 0:
            d = step if ms > step else ms
            self.now = ticks_add(self.now, d)
            ms -= d
            for code in (self.a.poll(0, None, self.now, self.vehicle),
                         self.a.update(self.now, self.vehicle)):
                if code:
                    got.append(code)
        self.out += got
        return got

    def poll(self, n, uid=None):
        self.now = ticks_add(self.now, 200)
        code = self.a.poll(n, uid, self.now, self.vehicle)
        up = self.a.update(self.now, self.vehicle)
        if up:
            self.out.append(up)
        return code

    def tap(self, uid):
        """Present a card for one poll and take it away (two empty polls)."""
        code = self.poll(len(uid) // 2, uid)
        self.poll(0)
        self.poll(0)
        return code

    def leds(self, at=0):
        self.a.show_on(self.front, ticks_add(self.now, at))
        return self.front.rfid, self.front.frame


def text(code):
    return auth.text(code)


# ------------------------------------------------------------------ whitelist data
def test_uids_have_one_canonical_form():
    assert auth.check_uid("a1b2c3d4") == "A1B2C3D4"
    assert auth.check_uid(MASTER) == MASTER
    assert auth.check_uid(BERT.lower()) == BERT


@pytest.mark.parametrize("bad", ["", "A1B2C3", "A1B2C3D4E5", "G1B2C3D4", "A1B2C3D4 ",
                                 12345678, None, "0x1B2C3D", "A1B2-3D4"])
def test_bad_uids_are_refused(bad):
    with pytest.raises(ValueError, match="UID"):
        auth.check_uid(bad)


def test_labels_are_short_plain_text():
    assert auth.check_label("Anna's car") == "Anna's car"
    assert auth.check_label("") == ""
    for bad in ("x" * 33, "a\nb", 5, None):
        with pytest.raises(ValueError, match="label"):
            auth.check_label(bad)


def test_a_well_formed_whitelist_is_put_in_force():
    a = auth.Auth(0)
    a.use(doc(ANNA, BERT))
    assert a.count == 3 and a.master == MASTER and a.version == 3
    assert a.known(ANNA) and a.known(BERT) and a.known(MASTER)
    assert not a.known(STRANGER) and not a.known("A1B2") and not a.known("")
    assert not a.known(ANNA[:6] + "FF")


@pytest.mark.parametrize("bad, why", [
    ([], "object"),
    ({"version": 1, "cards": {}}, "master"),
    ({"version": True, "master": "", "cards": {}}, "version"),
    ({"version": 1, "master": STRANGER, "cards": {ANNA: ""}}, "master card"),
    ({"version": 1, "master": "", "cards": {"a1b2c3d4": ""}}, "canonical"),
    ({"version": 1, "master": "", "cards": {"A1B2": ""}}, "UID"),
    ({"version": 1, "master": "", "cards": {ANNA: 7}}, "label"),
    ({"version": 1, "master": "", "cards": []}, "cards"),
])
def test_a_damaged_whitelist_is_refused_and_the_old_one_stays(bad, why):
    a = auth.Auth(0)
    a.use(doc(ANNA))
    with pytest.raises(ValueError) as e:
        a.use(bad)
    assert why in str(e.value)
    assert a.known(ANNA) and a.count == 2


def test_the_whitelist_holds_100_cards_and_no_more():
    cards = {"%08X" % (0x10000000 + i): "card %d" % i for i in range(auth.CAPACITY)}
    a = auth.Auth(0)
    a.use({"version": 1, "master": "10000000", "cards": cards})
    assert a.count == 100 and a.known("10000063") and not a.known("10000064")
    cards["10000064"] = ""
    with pytest.raises(ValueError, match="100"):
        auth.check_doc({"version": 1, "master": "", "cards": cards})


# ------------------------------------------------------------ authorization off
def test_authorization_off_charges_on_plug_in_and_cards_only_get_feedback():
    b = Box(enabled=False)
    assert b.a.authorized()
    code = b.tap(ANNA)
    assert auth.tone(code) == 1 and "auth off" in text(code)
    assert b.leds()[0] == GREEN
    code = b.tap(STRANGER)
    assert code == auth.REFUSED and auth.tone(code) == 2 and b.leds()[0] == RED
    assert b.a.authorized() and b.a.holder is None
    b.wait(3000)
    assert b.leds() == (OFF, OFF)  # nothing required, nothing shown


def test_switching_authorization_never_touches_the_whitelist():
    b = Box(enabled=False)
    index = b.a.index
    for on in (True, False, True):
        b.a.enable(on, False)
        assert b.a.index == index and b.a.count == 3
        assert b.a.authorized() == (not on)


def test_switched_on_during_a_session_the_session_keeps_going():
    b = Box(enabled=False)
    b.state = cp.C
    b.a.enable(True, b.vehicle)
    assert b.a.authorized()
    b.wait(120000)
    assert b.a.authorized()
    b.state = cp.A
    b.wait(200)
    assert not b.a.authorized()


# ------------------------------------------------------------- authorization on
def test_required_authorization_flashes_the_indicator_and_frame_white():
    b = Box()
    assert not b.a.authorized()
    assert b.leds() == (WHITE | SLOW, WHITE | SLOW)


def test_a_known_card_authorizes_for_60_s_then_it_lapses():
    b = Box()
    code = b.tap(ANNA)
    assert code == auth.GRANTED and auth.tone(code) == 1
    assert b.a.authorized() and b.a.holder == ANNA
    assert b.leds() == (GREEN, OFF)
    b.wait(59000 - 400)
    assert b.a.authorized() and b.out == []
    got = b.wait(1000)
    assert not b.a.authorized() and len(got) == 1
    assert "lapsed" in text(got[0]) and auth.tone(got[0]) == 0
    assert b.leds() == (WHITE | SLOW, WHITE | SLOW)


@pytest.mark.parametrize("start", STARTS)
def test_the_window_is_60_s_exactly_across_the_tick_wrap(start):
    a = auth.Auth(start)
    a.use(doc(ANNA))
    a.enable(True, False)
    assert a.poll(4, ANNA, start, False) == auth.GRANTED
    assert a.update(ticks_add(start, 59999), False) == 0 and a.authorized()
    assert a.update(ticks_add(start, 60000), False) != 0 and not a.authorized()


def test_green_for_2_s_after_the_tap():
    b = Box()
    b.poll(4, ANNA)
    assert b.leds(1999)[0] == GREEN
    assert b.leds(2000)[0] == OFF


def test_a_vehicle_within_the_window_binds_it_to_the_session():
    b = Box()
    b.tap(ANNA)
    b.wait(30000)
    b.state = cp.B
    b.wait(200)
    assert b.a.bound
    b.state = cp.C
    b.wait(300000)  # charging for 5 minutes: no lapse
    assert b.a.authorized() and b.out == []
    b.state = cp.F  # a fault is not the end of the session
    b.wait(1000)
    assert b.a.authorized()
    b.state = cp.A  # unplugged: over
    b.wait(200)
    assert not b.a.authorized() and b.a.holder is None


def test_tapping_with_the_vehicle_already_plugged_in_authorizes_its_session():
    b = Box()
    b.state = cp.B
    b.wait(10000)
    assert not b.a.authorized()
    assert b.tap(BERT) == auth.GRANTED
    b.wait(120000)
    assert b.a.authorized()


def test_the_card_that_authorized_can_end_it_and_no_other_card_can():
    b = Box()
    b.state = cp.C
    b.tap(ANNA)
    for other in (BERT, MASTER, STRANGER):
        code = b.tap(other)
        assert "another card" in text(code) and auth.tone(code) == 2
        assert b.leds()[0] == RED and b.a.holder == ANNA
    code = b.tap(ANNA)
    assert code == auth.ENDED and auth.tone(code) == 1 and not b.a.authorized()
    assert b.tap(ANNA) == auth.GRANTED  # and again


def test_during_the_window_no_other_card_changes_it():
    b = Box()
    b.tap(ANNA)
    assert "another card" in text(b.tap(BERT))
    b.wait(10000)
    assert b.a.holder == ANNA
    assert b.tap(ANNA) == auth.ENDED


def test_a_reservation_lets_only_its_card_take_the_authorization():
    b = Box()
    b.state = cp.B  # a car plugged in at a connector reserved for NEW (a backend tag)
    b.a.only = "," + NEW + ",PARENT,"
    for other in (ANNA, STRANGER):
        code = b.tap(other)
        assert "reserved" in text(code) and auth.tone(code) == 2 and b.leds()[0] == RED
        assert not b.a.authorized()
    assert b.tap(NEW) == auth.ASK  # not in the whitelist: the backend decides
    assert b.a.answer(NEW, True, b.now) == auth.GRANTED and b.a.holder == NEW
    b.a.only = None  # the transaction started: the reservation is used
    assert "another card" in text(b.tap(ANNA))
    assert b.tap(NEW) == auth.ENDED


def test_the_reserved_card_takes_over_from_a_card_the_reservation_refuses():
    b = Box(cards=(ANNA, BERT, NEW))
    b.tap(ANNA)  # before the reservation came
    b.a.only = "," + NEW + ","
    b.state = cp.B
    b.wait(400)
    assert b.tap(NEW) == auth.GRANTED and b.a.holder == NEW
    assert "another card" in text(b.tap(ANNA))
    b.a.only = ","
    assert "reserved" in text(b.a.answer(STRANGER, True, b.now)) and b.a.holder == NEW


def test_no_card_takes_the_authorization_while_the_charger_is_unavailable():
    b = Box()
    b.state = cp.B
    b.a.only = ""  # Inoperative
    for uid in (ANNA, BERT, MASTER, STRANGER):
        assert "unavailable" in text(b.tap(uid))
        assert not b.a.authorized()
    assert "unavailable" in text(b.a.answer(STRANGER, True, b.now))
    b.a.only = None  # Operative again: a new tap is needed
    assert not b.a.authorized()
    assert b.tap(ANNA) == auth.GRANTED


def test_unknown_card_asks_the_backend_or_is_refused():
    b = Box()
    code = b.tap(STRANGER)
    assert code == auth.ASK and auth.tone(code) == 0 and not b.a.authorized()
    code = b.a.answer(STRANGER, False, b.now)
    assert code == auth.REFUSED and auth.tone(code) == 2 and b.leds()[0] == RED
    b.wait(3000)
    code = b.a.answer(STRANGER, True, b.now)  # the backend knows it
    assert code == auth.GRANTED and b.a.holder == STRANGER and b.leds()[0] == GREEN
    assert "another card" in text(b.a.answer(NEW, True, b.now))


def test_the_backend_can_authorize_without_a_card():
    b = Box()
    b.a.grant("", b.now)
    assert b.a.authorized()
    b.wait(60000)
    assert not b.a.authorized()


# ------------------------------------------------------------------ tap detection
def test_a_card_held_for_minutes_is_one_tap():
    b = Box()
    b.state = cp.C
    codes = [b.poll(4, ANNA) for _ in range(5 * 60 * 5)]  # 5 polls a second for 5 min
    assert codes[0] == auth.GRANTED and codes[1:] == [0] * (len(codes) - 1)
    assert b.a.holder == ANNA  # not ended by the same card "tapping" again


def test_one_missed_poll_is_not_a_new_tap_two_are():
    b = Box()
    assert b.poll(4, ANNA) == auth.GRANTED
    b.poll(0)
    assert b.poll(4, ANNA) == 0
    b.poll(0)
    b.poll(0)
    assert b.poll(4, ANNA) == auth.ENDED


def test_cards_swapped_rapidly_are_each_a_tap():
    b = Box()
    assert b.poll(4, ANNA) == auth.GRANTED
    assert "another card" in text(b.poll(10, BERT))
    assert b.poll(4, ANNA) == auth.ENDED
    assert b.poll(10, BERT) == auth.GRANTED


def test_two_cards_at_once_are_refused_once_while_they_stay():
    b = Box()
    code = b.poll(-1)
    assert "several cards" in text(code) and auth.tone(code) == 2 and b.leds()[0] == RED
    assert [b.poll(-1) for _ in range(20)] == [0] * 20
    assert b.poll(4, ANNA) == auth.GRANTED  # one card taken away: the other one counts
    assert b.a.holder == ANNA


def test_a_second_card_joining_does_not_re_tap_the_first():
    b = Box()
    b.state = cp.C
    assert b.poll(4, ANNA) == auth.GRANTED
    assert "several cards" in text(b.poll(-1))
    assert b.poll(4, ANNA) == 0  # the second card left again: still the same session
    assert b.a.holder == ANNA


def test_a_card_that_cannot_be_read_is_shown_once():
    b = Box()
    assert b.poll(-2) == 0 and b.poll(-2) == 0
    code = b.poll(-2)
    assert "unreadable" in text(code) and auth.tone(code) == 2 and b.leds()[0] == RED
    assert [b.poll(-2) for _ in range(10)] == [0] * 10
    assert not b.a.authorized()


def test_broken_reads_alternating_with_silence_still_count_as_unreadable():
    b = Box()
    got = [b.poll(-2 if i % 2 == 0 else 0) for i in range(6)]
    assert sum(1 for c in got if c) == 1 and "unreadable" in text(max(got))


def test_noise_on_a_card_already_read_is_ignored():
    b = Box()
    assert b.poll(4, ANNA) == auth.GRANTED
    assert [b.poll(-2) for _ in range(10)] == [0] * 10
    assert b.poll(4, ANNA) == 0


# ------------------------------------------------------------------- master card
def test_after_delete_all_the_first_card_becomes_master():
    b = Box(cards=(), master="")
    b.a.use({"version": 9, "master": "", "cards": {}})
    b.a.enrol(b.now)
    assert b.leds() == (WHITE | SLOW, WHITE | SLOW)  # the read area is shown
    b.wait(50000)
    code = b.tap(NEW)
    assert code == auth.MASTER and b.a.pending == NEW and auth.tone(code) == 1
    assert not b.a.enrolling and b.leds()[0] == GREEN


@pytest.mark.parametrize("start", STARTS)
def test_the_master_window_closes_after_60_s(start):
    a = auth.Auth(start)
    a.enrol(start)
    assert a.update(ticks_add(start, 59999), False) == 0 and a.enrolling
    code = a.update(ticks_add(start, 60000), False)
    assert "no master" in text(code) and auth.tone(code) == 0 and not a.enrolling
    assert a.poll(4, NEW, ticks_add(start, 60200), False) == auth.REFUSED


def test_no_master_card_while_a_vehicle_is_connected():
    b = Box(cards=(), master="")
    b.a.enrol(b.now)
    b.state = cp.B
    code = b.tap(NEW)
    assert "vehicle" in text(code) and auth.tone(code) == 2 and b.a.enrolling
    b.state = cp.A
    assert b.tap(NEW) == auth.MASTER


# ------------------------------------------------------------- card programming
def program(b, new=NEW):
    first = b.tap(MASTER)
    second = b.tap(new)
    third = b.tap(MASTER)
    return first, second, third


@pytest.mark.parametrize("enabled", [False, True])
def test_programming_a_user_card(enabled):
    b = Box(enabled=enabled)
    first = b.tap(MASTER)
    assert auth.tone(first) == 1 and b.a.step and b.a.pending != NEW
    assert b.leds(2100) == (WHITE, WHITE | SLOW)
    second = b.tap(NEW)
    assert auth.tone(second) == 1 and "confirm" in text(second)
    assert b.leds() == (ORANGE, WHITE | SLOW)
    third = b.tap(MASTER)
    assert third == auth.ADDED and b.a.pending == NEW and not b.a.step
    assert b.leds()[0] == WHITE  # back to white


def test_programming_is_status_token_programming_until_done():
    b = Box(enabled=False)
    assert not b.a.step
    b.tap(MASTER)
    assert b.a.step
    b.tap(NEW)
    assert b.a.step
    b.tap(MASTER)
    assert not b.a.step


@pytest.mark.parametrize("start", STARTS)
def test_no_new_card_within_5_s_aborts_with_a_falling_tone(start):
    b = Box(start=start, enabled=False)
    b.tap(MASTER)  # at +200 ms
    assert b.wait(4999 - 600) == []
    got = b.wait(600)
    assert len(got) == 1 and "aborted" in text(got[0]) and auth.tone(got[0]) == 2
    assert not b.a.step and b.leds()[0] == RED


@pytest.mark.parametrize("start", STARTS)
def test_no_confirmation_within_5_s_aborts(start):
    b = Box(start=start, enabled=False)
    b.tap(MASTER)
    b.tap(NEW)  # step started at the first of these polls
    assert b.wait(4999 - 600) == []
    got = b.wait(600)
    assert "aborted" in text(got[-1]) and auth.tone(got[-1]) == 2
    assert not b.a.step and not b.a.known(NEW)
    assert b.tap(NEW) == auth.REFUSED  # still unknown


def test_a_wrong_card_at_confirmation_aborts():
    b = Box(enabled=False)
    b.tap(MASTER)
    b.tap(NEW)
    third = b.tap(STRANGER)
    assert "aborted" in text(third) and auth.tone(third) == 2 and not b.a.step


def test_the_new_card_twice_aborts():
    b = Box(enabled=False)
    b.tap(MASTER)
    b.tap(NEW)
    assert "aborted" in text(b.tap(NEW))


def test_a_card_already_known_is_not_programmed_again():
    b = Box(enabled=False)
    b.tap(MASTER)
    code = b.tap(ANNA)
    assert "already" in text(code) and auth.tone(code) == 2 and not b.a.step


def test_programming_with_a_full_whitelist_is_refused():
    cards = ["%08X" % (0x10000000 + i) for i in range(auth.CAPACITY - 1)]
    b = Box(enabled=False, cards=cards)
    assert b.a.count == auth.CAPACITY
    first, second, third = program(b)
    assert third == auth.FULL and auth.tone(third) == 2 and b.leds()[0] == RED


def test_not_while_a_vehicle_is_connected():
    b = Box(enabled=False)
    b.state = cp.B
    code = b.tap(MASTER)
    assert not b.a.step and "auth off" in text(code)
    b = Box(enabled=True)
    b.state = cp.B
    assert b.tap(MASTER) == auth.GRANTED and not b.a.step  # the master authorizes


def test_a_vehicle_connected_during_programming_aborts_it():
    b = Box(enabled=False)
    b.tap(MASTER)
    b.tap(NEW)
    b.state = cp.B
    got = b.wait(200)
    assert "aborted" in text(got[0]) and not b.a.step


def test_the_master_card_also_authorizes_and_then_programming_ends_quietly():
    b = Box(enabled=True)
    code = b.tap(MASTER)
    assert auth.tone(code) == 1 and b.a.holder == MASTER and b.leds()[0] == GREEN
    assert b.a.step
    assert b.wait(6000) == []  # no falling tone: it was an authorization
    assert not b.a.step and b.a.authorized()
    b.state = cp.B  # the car comes: charging as authorized by the master
    b.wait(120000)
    assert b.a.authorized()


def test_the_master_tapped_twice_takes_back_what_it_granted():
    b = Box(enabled=True)
    b.tap(MASTER)
    code = b.tap(MASTER)
    assert "aborted" in text(code) and not b.a.authorized() and not b.a.step


def test_plugging_in_right_after_the_master_tap_keeps_the_authorization_quietly():
    b = Box(enabled=True)
    b.tap(MASTER)
    b.state = cp.B
    assert b.wait(400) == [] and b.a.authorized() and not b.a.step


def test_another_card_holding_the_window_blocks_the_master_too():
    b = Box(enabled=True)
    b.tap(ANNA)
    assert "another card" in text(b.tap(MASTER)) and not b.a.step


# ---------------------------------------------------------------- presentation
def test_every_outcome_has_a_text_and_a_sensible_tone():
    for code in range(1, 21):
        assert auth.text(code)
    with pytest.raises(IndexError):
        auth.text(21)  # no outcome without its words
        assert auth.tone(code) in (0, 1, 2)
    assert auth.tone(0) == 0 and auth.tone(auth.ASK) == 0
    for code in (auth.GRANTED, auth.ENDED, auth.MASTER, auth.ADDED):
        assert auth.tone(code) == 1
    for code in (auth.REFUSED, auth.FULL, auth.FAILED):
        assert auth.tone(code) == 2


def test_a_failed_save_shows_red():
    b = Box(enabled=False)
    program(b)
    code = b.a.show(auth.FAILED, b.now)
    assert auth.tone(code) == 2 and b.leds()[0] == RED and "not saved" in text(code)


def test_a_failed_reader_flashes_the_indicator_red_and_hides_the_frame():
    b = Box()
    b.a.fault = True
    assert b.leds() == (RED | SLOW, OFF)
    b.a.fault = False
    assert b.leds() == (WHITE | SLOW, WHITE | SLOW)


@pytest.mark.parametrize("fault_level", [cp.F, cp.E])
def test_a_fault_with_the_vehicle_plugged_in_is_no_unplug(fault_level):
    """A fault drives the pilot to F (or a short shows E) with the car still plugged in:
    the master card does not start programming, the session stays bound."""
    b = Box(enabled=False)
    b.state = cp.C
    b.state = fault_level
    b.wait(1000)
    b.tap(MASTER)
    assert not b.a.step  # no card programming
    b.tap(NEW)
    assert b.tap(MASTER) != auth.ADDED and not b.a.step and b.a.pending != NEW
    b2 = Box(enabled=True)
    b2.tap(ANNA)
    b2.state = cp.C
    b2.wait(200)
    b2.state = fault_level
    b2.wait(120000)  # long after the 60 s window: still the car's session
    assert b2.a.authorized() and b2.a.holder == ANNA
