"""Authorization by RFID card (the manual's AUTHORIZATION chapter) as pure logic: the
whitelist, the 60 s authorization window and its binding to the session, the master
card and the programming of user cards, tap detection from the reader's polls, and what
the RFID indicator and the read-area frame show for each outcome.

Time comes in as ticks_ms values. Outcomes are small ints (see `text()`, `tone()`), so
the service can log, sound and persist them. The whitelist is a JSON object
{"version": n, "master": uid, "cards": {uid: label}} that the service keeps on flash;
RAM holds only a string index of the UIDs (labels are read from flash when a page asks
for them), so a full list costs about 1.4 KB. A UID is upper-case hex, first byte first.
"""
from micropython import const

from firmware.core import settings
from firmware.core.faults import GREEN, OFF, ORANGE, RED, WHITE
from firmware.core.front import SLOW
from firmware.core.ticks import ticks_diff

settings.extend({
    "auth.enabled": (settings.BOOL, False, None, None),  # a card is needed to charge
    "auth.rfid_gain": (settings.INT, 4, 0, 7),  # reader receiver gain step (18..48 dB)
})

CAPACITY = const(100)  # cards in the whitelist
_LABEL_MAX = const(32)
_WINDOW_MS = const(60000)  # an authorization lapses unless a vehicle connects within this
_STEP_MS = const(5000)  # each step of programming a user card
_SHOW_MS = const(2000)  # green / red on the RFID indicator after a tap
_ENROL_MS = const(60000)  # after a restart with no cards: the first card becomes master
_MISSES = const(2)  # polls without an answer before the card counts as gone
_BAD_READS = const(3)  # broken reads in a row before "card unreadable" is shown

# Reader poll results, as drivers/rc522.py returns them (> 0: a UID of that many bytes)
_COLLIDED = const(-1)
_BROKEN = const(-2)

# Programming steps
_NEW = const(1)  # master tapped: waiting for the new card
_CONFIRM = const(2)  # new card read: waiting for the master again

# Outcomes. 1..7 succeed (rising tone), 9..17 are refused (falling tone, red), from
# _QUIET on they are only logged.
GRANTED = const(1)
ENDED = const(2)
MASTER = const(3)  # the service stores `pending` as the master card
_ARMED = const(4)
_NEW_CARD = const(5)
ADDED = const(6)  # the service stores `pending` as a user card
_SEEN = const(7)
ASK = const(8)  # unknown card with authorization on: the service may ask the backend
REFUSED = const(9)
_BUSY = const(10)
_ABORTED = const(11)
_KNOWN = const(12)
_VEHICLE = const(13)
FULL = const(14)
FAILED = const(15)
_COLLISION = const(16)
_UNREADABLE = const(17)
_NOT_HERE = const(18)  # a reservation for another idTag, or the charger is unavailable
_QUIET = const(19)
_LAPSED = const(19)
_NO_MASTER = const(20)
# What each outcome means, for the log: one string (20 separate ones cost ~1 KB more)
_TEXT = const("|authorized|ended by its card|master card stored|master card: programming"
               "|new card: confirm with the master|user card stored|known card (auth off)"
               "|asking the backend|unknown card|refused: held by another card"
               "|programming aborted|already stored|not while a vehicle is connected"
               "|whitelist full|not saved|several cards at once|unreadable"
               "|refused: reserved or unavailable"
               "|lapsed: no vehicle within 60 s|no master card within 60 s")
_COLOURS = bytes((OFF, GREEN, GREEN, GREEN, OFF, OFF, WHITE, GREEN, OFF))  # up to ASK


def text(code):
    """The outcome in words."""
    return _TEXT.split("|")[code]


def tone(code):
    """1: rising (accepted), 2: falling (refused), 0: silent."""
    if code == 0 or code == ASK or code >= _QUIET:
        return 0
    return 1 if code < ASK else 2


def check_uid(uid):
    """`uid` in the canonical form; ValueError unless it is 4, 7 or 10 bytes of hex."""
    if not isinstance(uid, str) or len(uid) not in (8, 14, 20):
        raise ValueError("UID must be 4, 7 or 10 bytes in hex")
    uid = uid.upper()
    for c in uid:
        if c not in "0123456789ABCDEF":
            raise ValueError("UID must be 4, 7 or 10 bytes in hex")
    return uid


def check_label(label):
    if not isinstance(label, str) or len(label) > _LABEL_MAX:
        raise ValueError("label must be text of at most %d characters" % _LABEL_MAX)
    for c in label:
        if c < " ":
            raise ValueError("label must not contain control characters")
    return label


def check_doc(doc):
    """ValueError unless `doc` is a well-formed whitelist object."""
    if not isinstance(doc, dict):
        raise ValueError("not an object")
    cards = doc.get("cards")
    master = doc.get("master")
    v = doc.get("version")
    if not isinstance(cards, dict) or not isinstance(master, str) or \
            not isinstance(v, int) or isinstance(v, bool):
        raise ValueError("needs version, master and cards")
    if len(cards) > CAPACITY:
        raise ValueError("more than %d cards" % CAPACITY)
    for uid in cards:
        if check_uid(uid) != uid:
            raise ValueError("UID not in canonical form: " + uid)
        check_label(cards[uid])
    if master and master not in cards:
        raise ValueError("master card not in the list")
    return doc


class Auth:
    def __init__(self, now):
        self.enabled = False  # from the setting auth.enabled (via enable())
        self.index = ","  # ",UID,UID,...," of the whitelist in force
        self.master = ""
        self.count = 0
        self.version = 0
        self.holder = None  # the UID holding the authorization ("" = granted without card)
        # who may take the authorization (set by the backend): None anyone, ",TAG,TAG,"
        # the idTags of a reservation, "" nobody (the charger is unavailable)
        self.only = None
        self.bound = False  # a vehicle connected while authorized: held until it leaves
        self.step = 0  # programming step (_NEW, _CONFIRM), 0 = not programming
        self.enrolling = False  # the first card becomes the master card
        self.fault = False  # the reader failed (set by the service)
        self.pending = ""  # the card to store after MASTER or ADDED
        self.card = None  # the card in the field
        self._miss = 0
        self._bad = 0
        self._told = False  # collision / unreadable already shown for what is in the field
        self._armed_grant = False  # the master tap that started programming also authorized
        self._at = now
        self._step_at = now
        self._enrol_at = now
        self._fb = OFF
        self._fb_at = now

    # ---------------------------------------------------------------- whitelist
    def use(self, doc):
        """Put a whitelist object in force (after loading or saving it)."""
        check_doc(doc)
        cards = doc["cards"]
        self.index = "," + ",".join(cards) + ","
        self.count = len(cards)
        self.master = doc["master"]
        self.version = doc["version"]

    def known(self, uid):
        return ("," + uid + ",") in self.index

    def enrol(self, now):
        """Open the 60 s window in which the first card becomes the master card."""
        self.enrolling = True
        self._enrol_at = now

    # ------------------------------------------------------------ authorization
    def may(self, uid):
        """`uid` may take the authorization (see `only`)."""
        return self.only is None or (("," + uid + ",") in self.only and uid != "")

    def authorized(self):
        return not self.enabled or self.holder is not None

    def enable(self, on, vehicle):
        """Follow the setting; a session under way when it is switched on keeps going."""
        if on != self.enabled:
            self.enabled = on
            self.holder = "" if on and vehicle else None
            self.bound = self.holder is not None

    def grant(self, uid, now):
        """Authorize (a card, or the backend); lapses after 60 s without a vehicle."""
        self.holder = uid
        self.bound = False
        self._at = now

    def show(self, code, now):
        """Remember the outcome's colour for the RFID indicator; returns `code`."""
        if code:
            c = _COLOURS[code] if code < len(_COLOURS) else RED if code < _QUIET else OFF
            if code == _ARMED and self._armed_grant:
                c = GREEN
            if c or code < _QUIET:
                self._fb = c
                self._fb_at = now
        return code

    def poll(self, n, uid, now, vehicle):
        """One poll of the reader: `n` > 0 a card (`uid`), 0 nothing, < 0 an error.
        Returns the outcome, 0 if nothing happened. A card held for minutes is one tap."""
        if n == 0:
            self._miss += 1
            if self._miss >= _MISSES:
                self.card = None
                self._bad = 0
                self._told = False
            return 0
        self._miss = 0
        if n > 0:
            self._bad = 0
            if uid == self.card:
                return 0
            self.card = uid
            self._told = False
            return self.show(self._tap(uid, now, vehicle), now)
        if n == _BROKEN:
            self._bad += 1
            if self._bad < _BAD_READS or self.card is not None:
                return 0  # noise on a card already read, or not yet conclusive
        if self._told:
            return 0
        self._told = True
        return self.show(_COLLISION if n == _COLLIDED else _UNREADABLE, now)

    def _tap(self, uid, now, vehicle):
        if self.enrolling:
            if vehicle:
                return _VEHICLE
            self.enrolling = False
            self.pending = uid
            return MASTER
        step = self.step
        if step:
            self.step = 0
            if step == _NEW and uid != self.master:
                if self.known(uid):
                    return _KNOWN
                self.step = _CONFIRM
                self._step_at = now
                self.pending = uid
                return _NEW_CARD
            if step == _CONFIRM and uid == self.master:
                return FULL if self.count >= CAPACITY else ADDED
            if step == _NEW and self._armed_grant:
                self.holder = None  # the master tapped twice: take back what it granted
            return _ABORTED
        if self.enabled and self.holder is not None and \
                (uid == self.holder or self.may(self.holder)):
            if uid != self.holder:
                return _BUSY  # no other card can change it
            self.holder = None
            self.bound = False
            return ENDED
        if uid == self.master and not vehicle:
            self.step = _NEW
            self._step_at = now
            self._armed_grant = self.enabled and self.may(uid)
            if self._armed_grant:
                self.grant(uid, now)
            return _ARMED
        if not self.enabled:
            return _SEEN if self.known(uid) else REFUSED
        if not self.may(uid):
            return _NOT_HERE
        if not self.known(uid):
            return ASK
        self.grant(uid, now)
        return GRANTED

    def answer(self, uid, ok, now):
        """The backend's verdict on an unknown card (after ASK)."""
        if not ok:
            return self.show(REFUSED, now)
        if not self.may(uid):
            return self.show(_NOT_HERE, now)
        if self.holder is not None and self.may(self.holder):
            return self.show(_BUSY, now)
        self.grant(uid, now)
        return self.show(GRANTED, now)

    def update(self, now, vehicle):
        """Timeouts and the session binding; returns an outcome to log, or 0.
        `vehicle`: the pilot's `vehicle` (core.pilot.present), plugged in or not."""
        code = 0
        if self.enrolling and ticks_diff(now, self._enrol_at) >= _ENROL_MS:
            self.enrolling = False
            code = _NO_MASTER
        step = self.step
        if step and (vehicle or ticks_diff(now, self._step_at) >= _STEP_MS):
            self.step = 0
            # a master tap that only authorized a session ends quietly
            if step == _CONFIRM or not self._armed_grant:
                code = self.show(_ABORTED, now)
        if self.holder is not None and self.enabled:
            if self.bound:
                if not vehicle:  # the vehicle left: the session is over
                    self.holder = None
                    self.bound = False
            elif vehicle:
                self.bound = True
            elif ticks_diff(now, self._at) >= _WINDOW_MS:
                self.holder = None
                code = _LAPSED
        return code

    def show_on(self, front, now):
        """Set the RFID indicator and read-area frame patterns of a core.front.Front."""
        required = self.enabled and self.holder is None
        prompt = self.enrolling or self.step or required
        if self._fb and ticks_diff(now, self._fb_at) < _SHOW_MS:
            led = self._fb
        elif self.fault:
            led = RED | SLOW
        elif self.step == _CONFIRM:
            led = ORANGE
        elif self.step:
            led = WHITE
        elif prompt:
            led = WHITE | SLOW
        else:
            led = OFF
        front.rfid = led
        front.frame = WHITE | SLOW if prompt and not self.fault else OFF
