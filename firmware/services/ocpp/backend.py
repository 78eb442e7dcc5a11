"""The backend link: this charge point's side of OCPP 1.6J over a WebSocket, and the
manual's digital charging service behaviour on top (online and charging-mode
indicators, intelligent vs immediate charging, the touch button, pairing).

Two supervised tasks: `run()` (here, the policy) follows the charging core twice a
second (transactions, meter values, status, smart charging limits, indicators) whether
or not the backend is reachable; `link()` (link.py, the base class) keeps the
connection, boots, sends and answers the central system's CALLs with calls.py.

The charging core is touched only through its inputs: the BACKEND arbiter slot (smart
charging, availability, a stopped transaction) and the RFID service's authorization
(remote start and stop). Transaction messages go through `TxQueue` on flash
(txqueue.py), so a power cut or an offline period loses none of them.

Imported only when the backend is enabled (app.py), so a box without it pays no RAM.
"""
import asyncio
import time
from time import ticks_diff, ticks_ms

from micropython import const

from firmware.core import charger as ch
from firmware.core import front, limits, ocpp
from firmware.core.faults import GREEN, OFF, ORANGE, WHITE
from firmware.services.ocpp.common import LIST, VENDOR_ID, version
from firmware.services.ocpp.link import (CONNECTING, DISABLED, OFFLINE, ONLINE, REACHABLE,
                                          STATES, Link, _calls, _drop_calls)
from firmware.services.ocpp.txqueue import ACKS, QUEUE, TxQueue
from firmware.services.platform.config import load_json, save_json
from firmware.services.platform.log import ERROR, INFO, SESSION

STATE = "ocpp.json"
_EPOCH = 946684800 if time.gmtime(0)[0] == 2000 else 0
_CLOCK_OK = const(1735689600)  # 2025-01-01: a clock before this was never set
_LOW_DA = const(60)  # "starts with a low charging current" while waiting for a schedule
_PAIR_MS = const(120000)
# The energy register and the time are saved (docs/ocpp.md: what a power cut loses) at
# least this often while a transaction runs, whenever the register grew this much, and
# before a value of it is reported
_SAVE_MS = const(60000)
_SAVE_WH = const(100)


class Backend(Link):
    """The charge point's behaviour (Link is the connection, TxQueue the queue)."""

    def __init__(self, app):
        self.app = app
        self.log = app.log
        self.cfg = app.config
        self.front = app.panel.front
        app.panel.on_touch.append(self.touch)
        app.config.user_files.extend((STATE, LIST, QUEUE, ACKS))
        rfid = getattr(app, "rfid", None)
        if rfid is not None:
            rfid.remote = self  # unknown cards: authorize(uid)
        self.q = TxQueue(self.log)
        try:
            st = load_json(STATE, None, self.log) or {}
        except ValueError as e:
            self.note(ERROR, "%s unreadable (%s): state reset" % (STATE, e))
            st = {}
        self.st = st
        self.keys = dict(ocpp.WRITABLE)
        for k, v in st.get("cfg", {}).items():
            if k in self.keys:
                self.keys[k] = v
        self.profiles = st.get("prof", [])
        self.reg = ocpp.Register(st.get("wh", 0), ticks_ms())
        self.tx = st.get("tx")  # {"l": local id, "s": start, "m": meterStart, "t": idTag}
        self.finishing = False
        self.mode = front.IMMEDIATE
        self.forced = False  # the touch button chose immediate charging
        self.state = DISABLED
        self.error = ""
        self.ws = None
        self.connected = False
        self.accepted = False
        self.pairing_at = None
        self.skew = 0  # backend clock - our clock (s)
        self.after = None  # work to start once the answer to a CALL is sent
        self.fw = None  # [location, retrieve time, retries, interval] of an update
        self.tick = asyncio.Event()  # evaluate limits now (a new profile, a stop)
        self.out = []  # [action, payload] to send (not transaction messages)
        self._wake = asyncio.Event()  # something to send
        self._lock = asyncio.Lock()
        self._got = asyncio.Event()
        self._wait = None  # unique id of our CALL in flight
        self._reply = None
        self._id = 0
        self._dead = None  # why the connection ended (set by the reader)
        self._boot = None  # the last BootNotification status
        self._tag = None  # [idTag, ticks] of a remote start waiting for the vehicle
        self._tries = 0  # delivery attempts of the queue's head
        now = ticks_ms()
        self._retry_at = self._sent_at = self._sample_at = self._saved_at = now
        self._saved_wh = self.reg.wh
        self._mode_at = now
        self.status_sent = [None, None]  # last status sent per connector (0, 1)
        self._aligned = None
        self._authorized = False
        self._invalid = False  # the backend refused the idTag: offer nothing
        if self.tx is not None:  # a session was cut by a power loss or a restart
            # stamped with the last time the box was known to run (its last save)
            at = st.get("alive")
            self._stop("Reboot" if st.get("boot") else "PowerLoss", self.reg.wh, None,
                       None if at is None else ocpp.iso(at))
        st.pop("boot", None)
        # the update's outcome, kept until the central system has it: an update restarted
        # the box (into the new version?), or the new version was rolled back later
        rolled = getattr(app, "rolled_back", None)  # services/platform/update.after_boot
        if st.get("fw") == "Installing":
            new = version() != st.get("fw_from")
            st["fw_report"] = "Installed" if new and not rolled else "InstallationFailed"
            st["fw"] = None
        elif rolled:
            st["fw_report"] = "InstallationFailed"
        if rolled:
            self.note(ERROR, "software update failed: %s; reporting InstallationFailed" % rolled)
        self.save()

    # -------------------------------------------------------------------- helpers
    def note(self, kind, text):
        self.log.add(kind, "backend: " + text)

    def save(self):
        st = self.st
        w = ocpp.WRITABLE
        st["cfg"] = {k: v for k, v in self.keys.items() if v != w[k]}
        st["prof"] = [p for p in self.profiles if p[1] != ocpp.TX]
        st["wh"] = self._saved_wh = self.reg.wh
        st["alive"] = self.now()
        st["tx"] = self.tx
        try:
            save_json(STATE, st)
        except OSError as e:
            self.note(ERROR, "state not saved: %s" % e)
        self._saved_at = ticks_ms()

    def now(self):
        """Unix time, or None while the clock was never set."""
        t = int(time.time()) + _EPOCH + self.skew
        return t if t > _CLOCK_OK else None

    def stamp(self):
        t = self.now()
        return None if t is None else ocpp.iso(t)

    def _set_clock(self, text):
        t = ocpp.to_unix(text or "")
        if t is None:
            return
        local = int(time.time()) + _EPOCH
        if abs(t - local - self.skew) > 2:
            try:  # the platform's clock (RTC, data log), where the platform has one
                from firmware.services.net.network import set_clock
                set_clock(t, "backend")
                local = int(time.time()) + _EPOCH
            except ImportError:
                pass
            self.skew = t - local
            if abs(self.skew) > 2:
                self.note(INFO, "clock set to " + text)

    def charger(self):
        return self.app.control.charger  # looked up each time: a restart replaces it

    def tx_id(self):
        return None if self.tx is None else self.q.ids.get(str(self.tx["l"]))

    def _rfid(self):
        r = getattr(self.app, "rfid", None)
        return None if r is None or not r.auth.enabled else r.auth

    def push(self, action, payload):
        """Send soon (not a transaction message: dropped when offline)."""
        if action == "StatusNotification":  # only the latest status per connector
            for m in self.out:
                if m[0] == action and m[1]["connectorId"] == payload["connectorId"]:
                    m[1] = payload
                    return
        if len(self.out) < 8:
            self.out.append([action, payload])
            self._wake.set()

    def local_list(self):
        try:
            return load_json(LIST, {"v": 0, "e": {}}, self.log)
        except ValueError:
            return {"v": 0, "e": {}}

    # ----------------------------------------------------------------- energy/meter
    def sample(self, c, measurands, context):
        """A meterValue object with the listed measurands."""
        out = []
        cur = self.app.sessions.currents()
        v = c.mains_dv if c.mains_dv > 0 else 2300
        for m in measurands.split(","):
            e = None
            if m == ocpp.ENERGY:
                if self.reg.wh != self._saved_wh:  # never report what a power cut could undo
                    self.save()
                e = {"value": str(self.reg.wh), "unit": "Wh"}
            elif m == "Current.Import":
                for i in range(3):
                    out.append({"value": "%d.%d" % (cur[i] // 10, cur[i] % 10), "measurand": m,
                                "phase": "L%d" % (i + 1), "unit": "A", "context": context})
            elif m == "Current.Offered":
                e = {"value": "%d.%d" % (c.offered_da // 10, c.offered_da % 10), "unit": "A"}
            elif m == "Power.Active.Import":
                e = {"value": str(v * sum(cur) // 100 if c.relay else 0), "unit": "W"}
            elif m == "Voltage" and c.mains_dv >= 0:
                e = {"value": "%d.%d" % (v // 10, v % 10), "phase": "L1-N", "unit": "V"}
            elif m == "Temperature":
                e = {"value": "%d.%d" % (c.temp_dc // 10, abs(c.temp_dc) % 10),
                     "location": "Body", "unit": "Celsius"}
            if e is not None:
                e["measurand"] = m
                e["context"] = context
                out.append(e)
        return {"timestamp": self.stamp(), "sampledValue": out}

    # ------------------------------------------------------------------ transactions
    def _start(self, tag, t):
        st = self.st
        ltx = st.get("ltx", 0) + 1
        st["ltx"] = ltx
        self.tx = {"l": ltx, "s": t, "m": self.reg.wh, "t": tag}
        p = {"connectorId": 1, "idTag": tag, "meterStart": self.reg.wh, "timestamp": self.stamp()}
        res = st.get("res")
        if res is not None:
            p["reservationId"] = res[0]
            st["res"] = None
        self._tag = None
        self._invalid = self.forced = False
        self._sample_at = self._mode_at = ticks_ms()
        self.mode = front.WAITING_SCHEDULE if self.accepted and \
            self.cfg.get("backend.schedule_wait_s") else front.IMMEDIATE
        self.q.put(ltx, "StartTransaction", p)
        self.save()
        self.log.add(SESSION, "backend: transaction %d started for %s at %d Wh" % (
            ltx, tag, self.reg.wh))
        self._wake.set()

    def _stop(self, reason, wh, c, stamp=None):
        tx = self.tx
        p = {"meterStop": wh, "timestamp": stamp or self.stamp(), "reason": reason,
             "idTag": tx["t"]}
        data = self.keys["StopTxnSampledData"]
        if data and c is not None:
            p["transactionData"] = [self.sample(c, data, "Transaction.End")]
        self.q.put(tx["l"], "StopTransaction", p)
        self.log.add(SESSION, "backend: transaction %d stopped (%s) at %d Wh" % (
            tx["l"], reason, wh))
        self.tx = None
        self.profiles = [x for x in self.profiles if x[1] != ocpp.TX]
        self.mode = front.IMMEDIATE
        self._invalid = False
        at_end = self.st.pop("inop_at_end", None)  # a ChangeAvailability Scheduled
        if at_end is not None:
            self.st["inop"] = True
            self.st["cp_inop"] = at_end == 0
        self.save()
        self._wake.set()

    def stop(self, reason):
        """End the running transaction (remote stop, reset, refused idTag) and take
        the authorization back; the vehicle stays connected: Finishing. False if no
        transaction was running."""
        if self.tx is None:
            return False
        self._stop(reason, self.reg.wh, self.charger())
        self.finishing = True
        a = self._rfid()
        if a is not None:
            a.holder = None
            a.bound = False
        return True

    def grant(self, tag):
        """A remote start: authorize `tag` for the next session."""
        self._tag = [tag, ticks_ms()]
        self.finishing = False
        a = self._rfid()
        if a is not None:
            a.grant(tag, ticks_ms())
        self.note(INFO, "remote start for " + tag)
        self.tick.set()

    def _gate(self):
        """Who may take the RFID authorization while no transaction runs: only the
        reservation's idTags, nobody while Inoperative. A card that may not is refused
        (core/auth.py), and one that got it before loses it, so it locks nobody out and
        starts nothing when the charger becomes Operative."""
        a = self._rfid()
        if a is None:
            return
        st = self.st
        res = st.get("res")
        if self.tx is not None:
            a.only = None
        elif st.get("inop"):
            a.only = ""
        elif res is not None:
            a.only = ",%s,%s," % (res[2], res[3] or "")
        else:
            a.only = None
        if a.holder and not a.may(a.holder):
            self.note(INFO, "authorization of %s withdrawn: %s" % (
                a.holder, "unavailable" if st.get("inop") else "reserved for another idTag"))
            a.holder = None
            a.bound = False

    def _session(self, c, t):
        self._gate()
        plugged = c.pilot.vehicle  # core.pilot.present: a fault's F is no unplug
        gone = not plugged
        ph = c.phase
        auth = c.authorized
        if auth and not self._authorized:
            self.finishing = False  # authorized again (a new card): a new transaction
        self._authorized = auth
        if self._tag is not None and gone and ticks_diff(
                ticks_ms(), self._tag[1]) >= self.keys["ConnectionTimeOut"] * 1000:
            self.note(INFO, "remote start for %s lapsed" % self._tag[0])
            self._tag = None
        if self.tx is not None:
            if gone and self.keys["StopTransactionOnEVSideDisconnect"]:
                self._stop("EVDisconnected", self.reg.wh, c)
            elif ph == ch.PERMANENT:
                self._stop("Other", self.reg.wh, c)
                self.finishing = True
            elif not auth and (ph == ch.WAIT_AUTH or ph == ch.IDLE):
                self._stop("Local", self.reg.wh, c)  # its card ended it
                self.finishing = True
        elif plugged and auth and not self.finishing and not self.st.get("inop") and \
                ph != ch.WAIT_AUTH and ch.SELFTEST <= ph <= ch.SUSPENDED:
            tag = self._tag[0] if self._tag is not None else None
            a = self._rfid()
            if tag is None and a is not None and a.holder:
                tag = a.holder
            if tag is None:
                tag = self.cfg.get("backend.id_tag")
            res = self.st.get("res")
            if res is None or tag == res[2] or tag == res[3]:
                self._start(tag[:20], t)
        if gone:
            self.finishing = False

    # --------------------------------------------------------------- limits and modes
    def _limit(self, t, which):
        """The profiles' limit now: every profile (0), the charge point's maximum only
        (1: it applies in every mode), or the schedule only (2: Tx/TxDefault)."""
        ps = [p for p in self.profiles if which == 0 or (p[1] == ocpp.CP_MAX) == (which == 1)]
        if t is None or not ps:
            return None
        tx = self.tx
        return ocpp.limit_at(ps, t, self.tx_id(), None if tx is None else tx["s"],
                             self.cfg.get("charging.phases"))

    def _limits(self, c, t):
        """The BACKEND claim, and the charging mode: a schedule from the backend makes
        charging intelligent (unless the touch button chose immediate charging); none
        within backend.schedule_wait_s means immediate charging."""
        st = self.st
        plugged = c.pilot.vehicle
        tx = self.tx
        if tx is not None and not self.forced and self.mode != front.INTELLIGENT and \
                self._limit(t, 2) is not None:
            self.mode = front.INTELLIGENT
            self.note(INFO, "intelligent charging: schedule received")
        elif tx is not None and self.mode == front.WAITING_SCHEDULE and ticks_diff(
                ticks_ms(), self._mode_at) >= self.cfg.get("backend.schedule_wait_s") * 1000:
            self.mode = front.IMMEDIATE
            self.note(INFO, "no schedule received: immediate charging")
        if tx is None:  # a session about to start waits with the low current from its start
            waiting = plugged and not self.finishing and self.accepted and \
                self.cfg.get("backend.schedule_wait_s") > 0
        else:
            waiting = self.mode == front.WAITING_SCHEDULE
        if st.get("inop") or (self.finishing and plugged) or self._invalid or \
                (tx is None and plugged and st.get("res") is not None):
            da = 0
        elif waiting:
            da = self._limit(t, 1)
            da = _LOW_DA if da is None or da > _LOW_DA else da
        else:
            da = self._limit(t, 1 if self.forced else 0)
        arb = self.app.arbiter
        arb.set(limits.BACKEND, da)
        # online with a schedule: the local plan yields (docs/decisions.md)
        arb.backend_schedule = self.state == ONLINE and not self.forced and \
            self._limit(t, 2) is not None

    def _switchable(self, c):
        return (self.tx is not None and c.authorized and not self.finishing and
                ch.READY <= c.phase <= ch.SUSPENDED and
                (self.accepted or self.mode != front.IMMEDIATE))

    def touch(self):
        """The touch button: confirms pairing, else switches the charging mode."""
        if self.pairing_at is not None:
            self.pairing_at = None
            self.st["paired"] = self.st["synced"] = True
            self.save()
            self.push("DataTransfer", {"vendorId": VENDOR_ID, "messageId": "Paired"})
            self.note(INFO, "pairing confirmed on the box")
            return
        if not self._switchable(self.charger()):
            return
        self.forced = self.mode != front.IMMEDIATE
        if self.forced:
            self.mode = front.IMMEDIATE
        else:
            self.mode = front.INTELLIGENT if self._limit(self.now(), 2) is not None else \
                front.WAITING_SCHEDULE
            self._mode_at = ticks_ms()
        word = "immediate" if self.forced else "intelligent"
        self.note(INFO, "touch button: %s charging" % word)
        self.push("DataTransfer", {"vendorId": VENDOR_ID, "messageId": "ChargingMode",
                                   "data": word})

    def _indicators(self, c):
        f = self.front
        s = self.state
        if self.pairing_at is not None and ticks_diff(ticks_ms(), self.pairing_at) >= _PAIR_MS:
            self.pairing_at = None
            self.note(INFO, "pairing not confirmed in time")
        if s == ONLINE and self.pairing_at is None:
            f.online = GREEN
        elif s == CONNECTING:
            f.online = GREEN | front.FLASH
        elif s == ONLINE or s == REACHABLE:
            f.online = WHITE
        elif s == OFFLINE and self.st.get("synced"):
            f.online = ORANGE
        else:
            f.online = OFF
        f.touch = WHITE if self.pairing_at is not None or self._switchable(c) else OFF
        f.charge_mode = front.MODULE_FAULT if self.error == "configuration" else \
            self.mode if self.tx is not None else front.IMMEDIATE

    def connector(self, c):
        st = self.st
        return ocpp.connector_status(c, self.tx is not None, self.finishing,
                                     st.get("inop", False), st.get("res") is not None)

    def _statuses(self, c):
        # connector 0 is the charge point itself: Unavailable only when it is Inoperative
        # as a whole (ChangeAvailability on connector 0), not for connector 1 alone
        s0 = ("Unavailable" if self.st.get("cp_inop") else ocpp.AVAILABLE, "NoError", "")
        for n, s in ((0, s0), (1, self.connector(c))):
            if s != self.status_sent[n]:
                self.status_sent[n] = s
                p = {"connectorId": n, "status": s[0], "errorCode": s[1]}
                if self.now() is not None:
                    p["timestamp"] = self.stamp()
                if s[2]:
                    p["vendorErrorCode"] = s[2]
                if self.accepted:
                    self.push("StatusNotification", p)

    # ------------------------------------------------------------------ the watch task
    async def run(self, period_ms=500):
        while True:
            now = ticks_ms()
            c = self.charger()
            t = self.now()
            self.reg.update(now, self.app.sessions.watts() if c.relay else 0)
            self._session(c, t)
            self._limits(c, t)
            self._indicators(c)
            self._statuses(c)
            k = self.keys
            tx = self.tx
            iv = k["MeterValueSampleInterval"]
            if tx is not None and iv and ticks_diff(now, self._sample_at) >= iv * 1000:
                self._sample_at = now
                self.q.put(tx["l"], "MeterValues", {"connectorId": 1, "meterValue": [
                    self.sample(c, k["MeterValuesSampledData"], "Sample.Periodic")]})
                self._wake.set()
            iv = k["ClockAlignedDataInterval"]
            if iv and t is not None:
                slot = t // iv
                if self._aligned is not None and slot != self._aligned and \
                        k["MeterValuesAlignedData"]:
                    p = {"connectorId": 1, "meterValue": [
                        self.sample(c, k["MeterValuesAlignedData"], "Sample.Clock")]}
                    if tx is not None:
                        self.q.put(tx["l"], "MeterValues", p)
                    elif self.accepted:
                        self.push("MeterValues", p)
                self._aligned = slot
            res = self.st.get("res")
            if res is not None and t is not None and t >= res[1]:
                self.st["res"] = None
                self.save()
                self.note(INFO, "reservation %d expired" % res[0])
            if self.reg.wh - self._saved_wh >= _SAVE_WH or \
                    (tx is not None and ticks_diff(now, self._saved_at) >= _SAVE_MS):
                self.save()
            fw = self.fw
            if fw is not None and t is not None and t >= fw[1]:
                self.fw = None
                from firmware.services.ocpp import mgmt
                asyncio.create_task(mgmt.update(self, fw))
                _drop_calls()
            try:
                await asyncio.wait_for_ms(self.tick.wait(), period_ms)
            except asyncio.TimeoutError:
                pass
            self.tick.clear()

    # ----------------------------------------------------- authorization of cards
    async def authorize(self, uid):
        """For the RFID service: a card not in the whitelist. True / False, or None
        when neither the backend nor the local list knows it."""
        try:
            return await _calls().authorize(self, uid)
        finally:
            _drop_calls()

    # ----------------------------------------------------------------- for the web
    def status(self):
        """For the status page: connection state, synchronisation, last error."""
        return {"state": STATES[self.state], "paired": bool(self.st.get("paired")),
                "synced": bool(self.st.get("synced")), "error": self.error,
                "queued": self.q.pending(), "transaction": self.tx_id()}
