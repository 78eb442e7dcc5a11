"""RFID authorization as a service: polls the reader a few times a second, runs the
authorization logic (core/auth.py) and applies it: the charger's `authorized` and
`programming` inputs, the RFID indicator and frame, tones, log entries, and the
whitelist file (atomic JSON, `cards.json`).

For the web pages and the backend: `entries()`, `add()`, `set_label()`, `remove()`,
`clear()` (each returns None or the reason it refused; the file is the truth, labels
are read from it), `auth.count` / `auth.version` / `auth.master`, `auth.holder` (the
card holding the authorization), `auth.grant(uid, ticks_ms())` (remote start),
`remote` (an object with `async authorize(uid)` -> True, False or None = unknown or
offline, asked about cards not in the whitelist while authorization is on) and
`on_tap` (callables(outcome, uid) after every decision).
"""
import asyncio
from binascii import hexlify
from time import ticks_diff, ticks_ms

from micropython import const

from firmware.core import auth
from firmware.core.front import FALLING, RISING
from firmware.services.platform.config import load_json
from firmware.services.platform.log import ERROR, INFO

PATH = "cards.json"
_POLL_MS = const(200)
_FAILS = const(3)  # failed polls in a row before the reader is reset
_RETRY_MS = const(5000)  # a failed reader is tried again after this
_REMOTE_S = const(5)  # longest wait for the backend's verdict on a card
_OK = const(1)
_DOWN = const(2)


class Rfid:
    def __init__(self, reader, control, panel, config, log, path=PATH):
        self.reader = reader  # drivers.rc522.RC522, or None when the board has none
        self.control = control
        self.panel = panel
        self.config = config
        self.log = log
        self.path = path
        self.remote = None
        self.on_tap = []
        self.state = 0  # reader: 0 none, 1 working, 2 failed
        now = ticks_ms()
        self.auth = a = auth.Auth(now)
        a.enabled = config.get("auth.enabled")  # as stored: nothing carried over a restart
        self._fails = 0
        self._retry_at = now
        try:
            doc = load_json(path, None, log)
            if doc is not None:
                a.use(doc)
            if not a.count:
                a.enrol(now)  # nothing programmed, or all deleted: the next card is master
        except ValueError as e:
            # no master card window here: a damaged file is not a deleted one
            log.add(ERROR, "%s unusable (%s): no cards; delete all cards to start over"
                    % (path, e))
        panel.on_delete_all.append(self.clear)
        config.user_files.append(path)

    # ------------------------------------------------------------- whitelist
    # The editing lives in services/rfid/cards.py, imported on first use: not resident while
    # nobody edits the list.
    def entries(self):
        """The whitelist object {"version", "master", "cards": {uid: label}} from flash."""
        from firmware.services.rfid import cards
        return cards.entries(self)

    def add(self, uid, label="", master=False):
        return self._edit(uid, label, 0, master)

    def set_label(self, uid, label):
        return self._edit(uid, label, 1)

    def remove(self, uid):
        return self._edit(uid, "", 2)

    def _edit(self, uid, label, how, master=False):
        from firmware.services.rfid import cards
        return cards.edit(self, uid, label, how, master)

    def clear(self):
        """Delete all cards (the service button's ~6 s hold); the next restart opens the
        master card window."""
        from firmware.services.rfid import cards
        return cards.clear(self)

    # -------------------------------------------------------------- the task
    async def _start(self):
        r = self.reader
        v = await r.start(self.config.get("auth.rfid_gain"))
        self._retry_at = ticks_ms()
        self._fails = 0
        if v:
            if self.state != _OK:
                self.log.add(INFO, "RFID reader ready (version %02X)" % v)
            self.state = _OK
        elif self.state != _DOWN:
            self.state = _DOWN
            self.log.add(ERROR, "RFID reader not answering")
        self.auth.fault = self.state == _DOWN

    def _outcome(self, code, uid):
        a = self.auth
        now = ticks_ms()
        if code == auth.MASTER or code == auth.ADDED:
            err = self.add(a.pending, "", code == auth.MASTER)
            if err:
                self.log.add(ERROR, "card %s not stored: %s" % (a.pending, err))
                code = a.show(auth.FULL if err == "whitelist full" else auth.FAILED, now)
        t = auth.tone(code)
        if t:
            self.panel.sound(RISING if t == 1 else FALLING)
        who = a.pending if code == auth.ADDED or code == auth.MASTER else uid
        self.log.add(INFO, "RFID %s: %s" % (who or "-", auth.text(code)))
        for cb in self.on_tap:
            cb(code, uid)

    async def run(self):
        r = self.reader
        a = self.auth
        front = self.panel.front
        if r is not None:
            await self._start()
        while True:
            c = self.control.charger  # looked up each time: a restart replaces it
            s = c.pilot.vehicle
            a.enable(self.config.get("auth.enabled"), s)
            if r is not None and self.state != _OK and \
                    ticks_diff(ticks_ms(), self._retry_at) >= _RETRY_MS:
                await self._start()
            if r is not None and self.state == _OK:
                g = self.config.get("auth.rfid_gain")
                if g != r.gain:
                    r.set_gain(g)
                n = await r.read()
                if n < -2:  # the reader failed: reset it after a few in a row
                    self._fails += 1
                    if self._fails >= _FAILS:
                        self.log.add(ERROR, "RFID reader failed: resetting it")
                        await self._start()
                else:
                    self._fails = 0
                    uid = hexlify(r.uid[:n]).decode().upper() if n > 0 else None
                    code = a.poll(n, uid, ticks_ms(), s)
                    if code == auth.ASK:
                        code = await self._ask(uid)
                    if code:
                        self._outcome(code, uid)
            code = a.update(ticks_ms(), s)
            if code:
                self._outcome(code, None)
            c.authorized = a.authorized()
            c.programming = a.step != 0
            a.show_on(front, ticks_ms())
            await asyncio.sleep_ms(_POLL_MS)

    async def _ask(self, uid):
        ok = None
        if self.remote is not None:
            try:
                ok = await asyncio.wait_for(self.remote.authorize(uid), _REMOTE_S)
            except Exception as e:  # noqa: BLE001 - offline, timeout, a bug: not authorized
                self.log.add(ERROR, "backend check of card %s failed: %r" % (uid, e))
        return self.auth.answer(uid, ok is True, ticks_ms())
