"""The backend link: this charge point's side of OCPP 1.6J over a WebSocket, and the
manual's digital charging service behaviour on top (online and charging-mode
indicators, intelligent vs immediate charging, the touch button, pairing).

Two supervised tasks: `run()` follows the charging core twice a second (transactions,
meter values, status, smart charging limits, indicators) whether or not the backend is
reachable; `link()` keeps the connection (backoff with jitter), boots, and sends: the
transaction queue first, then other messages, then heartbeats, one CALL at a time.
The connection's reader task answers the backend's CALLs with calls.py, which
is loaded for each CALL and dropped afterwards.

The charging core is touched only through its inputs: the BACKEND arbiter slot (smart
charging, availability, a stopped transaction) and the RFID service's authorization
(remote start and stop). Transaction messages go through `TxQueue` on flash, so a power
cut or an offline period loses none of them.

Imported only when the backend is enabled (app.py), so a box without it pays no RAM.
"""
import asyncio
import json
import os
import sys
import time
from binascii import crc32
from time import ticks_add, ticks_diff, ticks_ms

from micropython import const

from firmware.core import charger as ch
from firmware.core import front, limits, ocpp
from firmware.core.faults import GREEN, OFF, ORANGE, WHITE
from firmware.core.ocpp import CallError
from firmware.services.net import websocket
from firmware.services.platform.config import load_json, save_json
from firmware.services.platform.log import ERROR, INFO, SESSION

VENDOR_ID = "org.openwallbox"  # DataTransfer vendorId of this project's extensions
STATE = "ocpp.json"
LIST = "ocpplist.json"
QUEUE = "txq/queue"  # in a directory of its own, see TxQueue
ACKS = "txq.ack"  # its acknowledgement record
CA = "backend_ca.der"  # the backend's CA certificate (DER): TLS is verified if present
_CALLS = "firmware.services.ocpp.calls"
_EPOCH = 946684800 if time.gmtime(0)[0] == 2000 else 0
_CLOCK_OK = const(1735689600)  # 2025-01-01: a clock before this was never set
_LOW_DA = const(60)  # "starts with a low charging current" while waiting for a schedule
_PAIR_MS = const(120000)
_DEPTH = const(16)  # deepest nesting of a message (OCPP 1.6 needs 6)
_HEAD = const(64)  # bytes of a refused message searched for its unique id
# The energy register and the time are saved (docs/ocpp.md: what a power cut loses) at
# least this often while a transaction runs, whenever the register grew this much, and
# before a value of it is reported
_SAVE_MS = const(60000)
_SAVE_WH = const(100)
# link states (status page and online indicator)
DISABLED = const(0)
CONNECTING = const(1)
ONLINE = const(2)  # connected and accepted
REACHABLE = const(3)  # the server answers but does not let us in (yet)
OFFLINE = const(4)
STATES = ("Disabled", "Connecting", "Online", "Reachable", "Offline")


def _calls():
    """calls.py, loaded for one CALL."""
    return __import__(_CALLS, None, None, ("handle",))


def _drop_calls():
    for name in (_CALLS, "firmware.services.ocpp.mgmt", "firmware.core.ocpp_calls",
                 "firmware.core.ocpp_keys", "firmware.core.smartcharging"):
        if name in sys.modules:
            del sys.modules[name]
            pkg, _, leaf = name.rpartition(".")
            try:
                delattr(sys.modules[pkg], leaf)
            except (KeyError, AttributeError):
                pass


class TxQueue:
    """Transaction messages on flash, delivered in order: an append-only file of
    CRC-checked JSON lines [local tx, action, payload] and an acknowledgement record
    {"n": lines done, "ids": {local tx: transactionId}} saved atomically. A line torn by
    a power cut fails its CRC and is skipped; nothing acknowledged is sent twice
    except the one in flight when the power went.

    The file lives in a directory of its own: on littlefs, with it next to the ack
    record, a power cut between save_json's two renames lost the whole queue file in
    about one cut in a hundred (host_tests/vm/test_txqueue_power_cut.py, decisions.md)."""

    def __init__(self, log, path=QUEUE, acks=ACKS, max_bytes=24576):
        self.log = log
        self.path = path
        self.acks = acks
        self.max_bytes = max_bytes
        try:
            os.mkdir(path.rpartition("/")[0])
        except OSError:  # it exists
            pass
        self.dropped = 0
        try:
            st = load_json(acks, None, log) or {}
        except ValueError as e:
            log.add(ERROR, "%s unreadable (%s): resending the queue" % (acks, e))
            st = {}
        self.done = st.get("n", 0)
        self.ids = st.get("ids", {})
        self.count = 0
        self.size = 0
        self._head = None
        self._off = 0  # file offset of the first line not acknowledged
        torn = False
        try:
            with open(path) as f:
                while True:
                    line = f.readline()
                    if not line:
                        break
                    if self.count == self.done:
                        self._off = self.size
                    self.size += len(line)
                    if line[-1] != "\n":
                        torn = True
                    elif self._parse(line) is not None:
                        self.count += 1
        except OSError:
            pass
        if self.done >= self.count:  # all sent
            self._off = self.size
            if self.done > self.count:  # the file went after all was sent: say so first,
                self.done = self.count  # or the next messages would count as sent
                save_json(acks, {"n": self.done, "ids": self.ids})
        if torn:  # end the torn line, so the next record starts on a line of its own
            self._append("\n")

    @staticmethod
    def _parse(line):
        try:
            if int(line[:8], 16) == crc32(line[9:-1].encode()):
                return json.loads(line[9:-1])
        except ValueError:
            pass
        return None

    def _append(self, line):
        with open(self.path, "a") as f:
            f.write(line)
        try:
            os.sync()
        except AttributeError:  # the unix port
            pass
        self.size += len(line)

    def pending(self):
        return self.count - self.done

    def put(self, ltx, action, payload):
        """Queue a message; False if the queue is full (meter values go first)."""
        text = json.dumps([ltx, action, payload])
        line = "%08x %s\n" % (crc32(text.encode()), text)
        meter = action == "MeterValues"
        if self.size + len(line) > (self.max_bytes if meter else 2 * self.max_bytes):
            self.dropped += 1
            if self.dropped == 1 or not meter:
                self.log.add(ERROR, "backend: queue full, %s dropped" % action)
            return False
        try:
            self._append(line)
        except OSError as e:
            self.log.add(ERROR, "backend: %s not queued: %s" % (action, e))
            return False
        self.count += 1
        return True

    def head(self):
        """The oldest message not acknowledged: [local tx, action, payload] or None."""
        if self._head is None and self.done < self.count:
            with open(self.path) as f:
                f.seek(self._off)
                while True:
                    line = f.readline()
                    if not line:
                        return None
                    rec = self._parse(line) if line[-1] == "\n" else None
                    if rec is not None:
                        self._head = rec
                        break
                    self._off += len(line)  # a torn line: not a message
        return self._head

    def ack(self, ltx=None, tx_id=None, forget=False):
        """The head was delivered (or given up). Records the backend's transactionId of
        local transaction `ltx`, or forgets it once the transaction is over."""
        key = str(ltx)
        if tx_id is not None:
            self.ids[key] = tx_id
        elif forget and key in self.ids:
            del self.ids[key]
        self.done += 1
        self._head = None
        with open(self.path) as f:
            f.seek(self._off)
            self._off += len(f.readline())
        save_json(self.acks, {"n": self.done, "ids": self.ids})
        if self.done >= self.count:  # all delivered: start a fresh file
            try:
                os.remove(self.path)
            except OSError:
                pass
            self.count = self.done = self.size = self._off = 0
            save_json(self.acks, {"n": 0, "ids": self.ids})


class Backend:
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
            new = _calls().version() != st.get("fw_from")
            _drop_calls()
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

    # ------------------------------------------------------------------- the link
    def _target(self):
        g = self.cfg.get
        if not g("backend.enabled"):
            return None
        cid = g("backend.charge_point_id") or self.cfg.prov.get("serial", "")
        url = g("backend.url")
        proxy = (g("proxy.host"), g("proxy.port"), g("proxy.user"), g("proxy.password")) \
            if g("proxy.enabled") else None
        return (url + ("" if url.endswith("/") else "/") + cid, cid, g("backend.key"), proxy)

    async def link(self):
        fails = 0
        while True:
            target = self._target()
            if target is None or not target[1]:
                self.state = DISABLED
                await asyncio.sleep_ms(2000)
                continue
            try:
                websocket.parse_url(target[0])
            except ValueError as e:
                if self.error != "configuration":
                    self.note(ERROR, "%s: %s" % (target[0], e))
                self.error = "configuration"
                self.state = DISABLED
                await asyncio.sleep_ms(5000)
                continue
            if self.error == "configuration":
                self.error = ""
            self.state = CONNECTING
            ws = websocket.WebSocket(self.cfg.get("backend.max_frame_kb") * 1024)
            try:
                ca = None
                try:
                    with open(CA, "rb") as f:
                        ca = f.read()
                except OSError:
                    pass
                await ws.connect(target[0], "ocpp1.6", target[1] if target[2] else None,
                                 target[2], target[3], ca, self.cfg.get("backend.timeout_s") * 1000)
            except Exception as e:  # noqa: BLE001 - DNS, TCP, TLS, HTTP, handshake
                fails += 1
                self.state = REACHABLE if ws.reached else OFFLINE
                await self._pause(fails, "cannot connect to %s: %s" % (target[0], e))
                continue
            self.note(INFO, "connected to " + target[0])
            self.ws = ws
            self.connected = True
            self._dead = self._boot = None
            reader = asyncio.create_task(self._reader(ws))
            why = "closed"
            try:
                await self._serve(ws, target)
            except CallError as e:  # no answer to the boot, or refused
                why = e.args[1]
            except Exception as e:  # noqa: BLE001 - connection lost, protocol error
                why = str(e) or type(e).__name__
            self.connected = self.accepted = False
            self.ws = None
            self._got.set()  # a CALL waiting for its answer gives up
            reader.cancel()
            await ws.close()
            self.state = OFFLINE
            fails = 1 if self._boot == "Accepted" else fails + 1
            await self._pause(fails, "connection ended: " + why)

    async def _pause(self, fails, why):
        """Exponential backoff with jitter, capped at backend.retry_max_s."""
        base = min(self.cfg.get("backend.retry_max_s"), 1 << min(fails, 12))
        delay_ms = base * 500 + os.urandom(1)[0] * base * 500 // 255  # 50..100 %
        self.error = why
        self.note(ERROR, "%s; next try in %d s" % (why, delay_ms // 1000))
        t0 = ticks_ms()
        while ticks_diff(ticks_ms(), t0) < delay_ms and self._target() is not None:
            await asyncio.sleep_ms(200)

    async def _serve(self, ws, target):
        while True:  # boot until accepted
            p = _calls().boot_payload(self)
            _drop_calls()
            r = await self.call("BootNotification", p)
            self._set_clock(r.get("currentTime"))
            interval = r.get("interval") if isinstance(r.get("interval"), int) else 60
            self._boot = r.get("status")
            if self._boot == "Accepted":
                break
            self.state = REACHABLE
            self.note(INFO, "boot %s; again in %d s" % (self._boot, interval))
            await self._idle(max(interval, 10) * 1000, target)
        self.accepted = True
        self.state = ONLINE
        self.error = ""
        if interval > 0:
            self.keys["HeartbeatInterval"] = interval
        if not self.st.get("synced"):
            self.st["synced"] = True
            self.save()
        self.status_sent = [None, None]  # send both connectors' status again
        report = self.st.get("fw_report")
        if report and ["FirmwareStatusNotification", {"status": report}] not in self.out:
            self.push("FirmwareStatusNotification", {"status": report})
        ping_at = ticks_ms()
        while True:
            now = ticks_ms()
            k = self.keys
            iv = k["WebSocketPingInterval"] * 1000
            if iv and ticks_diff(now, ping_at) >= iv:
                if ticks_diff(now, ws.pong_at) > 3 * iv:
                    raise OSError("no answer to pings")
                ping_at = now
                await ws.ping()
            if await self._deliver():
                continue
            action = None
            if self.out:
                action, p = self.out.pop(0)
            elif k["HeartbeatInterval"] and \
                    ticks_diff(now, self._sent_at) >= k["HeartbeatInterval"] * 1000:
                action, p = "Heartbeat", {}
            if action is None:
                await self._idle(1000, target)
                continue
            try:
                r = await self.call(action, p)
                if action == "Heartbeat" or action == "BootNotification":
                    self._set_clock(r.get("currentTime"))
                elif action == "FirmwareStatusNotification" and \
                        p["status"] == self.st.get("fw_report"):
                    self.st["fw_report"] = None  # delivered
                    self.save()
                    self.note(INFO, "software update outcome reported: " + p["status"])
            except CallError as e:
                self.note(ERROR, "%s failed: %s" % (action, e.args[1]))

    async def _idle(self, ms, target):
        """Wait for something to send, at most `ms`; raises if the connection ended or
        the settings changed."""
        t0 = ticks_ms()
        while True:
            if self._dead:
                raise OSError(self._dead)
            if self._target() != target:
                raise OSError("settings changed")
            left = ms - ticks_diff(ticks_ms(), t0)
            if left <= 0:
                return
            try:
                await asyncio.wait_for_ms(self._wake.wait(), min(left, 1000))
                self._wake.clear()
                return
            except asyncio.TimeoutError:
                pass

    async def _deliver(self):
        """Send the queue's head if it is due; True if something was done."""
        q = self.q
        rec = q.head()
        if rec is None or ticks_diff(ticks_ms(), self._retry_at) < 0:
            return False
        ltx, action, p = rec
        start = action == "StartTransaction"
        if not start:
            tid = q.ids.get(str(ltx))
            if tid is None:
                self.note(ERROR, "%s of transaction %d dropped: no transactionId" % (
                    action, ltx))
                q.ack(ltx, forget=action == "StopTransaction")
                return True
            p["transactionId"] = tid
        if p.get("timestamp", 1) is None:  # queued before the clock was set
            p["timestamp"] = self.stamp()
        for mv in p.get("meterValue", ()):
            if mv["timestamp"] is None:
                mv["timestamp"] = self.stamp()
        try:
            r = await self.call(action, p)
        except CallError as e:
            self._tries += 1
            k = self.keys
            if self._tries >= max(k["TransactionMessageAttempts"], 1):
                self.note(ERROR, "%s given up after %d tries: %s" % (
                    action, self._tries, e.args[1]))
                self._tries = 0
                q.ack(ltx, forget=not start)
            else:
                self.note(ERROR, "%s failed (%s), try %d" % (action, e.args[1], self._tries))
                self._retry_at = ticks_add(ticks_ms(), k["TransactionMessageRetryInterval"] *
                                           1000 * self._tries)
            return True
        self._tries = 0
        if start:
            tid = r.get("transactionId")
            q.ack(ltx, tid if isinstance(tid, int) else -1)
            info = r.get("idTagInfo") or {}
            tx = self.tx
            if info.get("status") != "Accepted" and tx is not None and tx["l"] == ltx:
                self.note(INFO, "idTag %s %s" % (p["idTag"], info.get("status")))
                if self.keys["StopTransactionOnInvalidId"]:
                    self.stop("DeAuthorized")
                else:
                    self._invalid = True
        else:
            q.ack(ltx, forget=action == "StopTransaction")
        return True

    async def call(self, action, payload):
        """One CALL; returns the answer's payload. CallError for a CALLERROR or no
        answer in time, OSError when offline or the connection ends meanwhile."""
        async with self._lock:
            ws = self.ws
            if ws is None or not self.connected:
                raise OSError("offline")
            self._id += 1
            mid = "%d" % self._id
            self._wait = mid
            self._reply = None
            self._got.clear()
            limit = self.cfg.get("backend.timeout_s")
            try:
                await ws.send(json.dumps([2, mid, action, payload]))
                self._sent_at = ticks_ms()
                await asyncio.wait_for_ms(self._got.wait(), limit * 1000)
            except asyncio.TimeoutError:
                raise CallError("NoAnswer", "no answer within %d s" % limit)
            finally:
                self._wait = None
            r = self._reply
            if r is None:  # the reader saw the connection end
                raise OSError(self._dead or "connection lost")
            if r[0] == 4:
                raise CallError(str(r[2]) if len(r) > 2 else "GenericError",
                                str(r[3]) if len(r) > 3 else "")
            if len(r) < 3 or not isinstance(r[2], dict):
                raise CallError("FormationViolation", "answer is not an object")
            return r[2]

    # ------------------------------------------------------------------ the reader
    async def _reader(self, ws):
        try:
            while True:
                raw = await ws.recv()
                try:
                    out = self._frame(raw, ws.too_big)
                except (MemoryError, RuntimeError) as e:  # the heap or the stack ran out
                    head = bytes(raw[:_HEAD])
                    out = raw = None
                    _drop_calls()
                    self.note(ERROR, "message too large for the memory: %r" % (e,))
                    out = self._refuse(head, "GenericError", "message too large for the memory")
                if out is not None:
                    await ws.send(json.dumps(out))
                if self.after is not None:  # work that follows the answer
                    f, self.after = self.after, None
                    asyncio.create_task(f())
                _drop_calls()
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - the connection ended or broke
            self._dead = str(e) or type(e).__name__
        finally:
            if self._dead is None:
                self._dead = "closed"
            self._got.set()
            self._wake.set()

    def _refuse(self, head, code, why):
        """A message that is not parsed: answer a CALL whose unique id can be read from
        its first bytes, or fail our CALL in flight if it is the answer to it."""
        i = head.find(b'"')
        j = head.find(b'"', i + 1)
        if head[:1] == b"[" and head[1:3] in (b"2,", b"3,", b"4,") and 0 < i < j <= 40:
            mid = head[i + 1:j].decode()
            if head[1:2] == b"2":
                return [4, mid, code, why, {}]
            if mid == self._wait:
                self._reply = [4, mid, code, why]
                self._got.set()
        return None

    def _frame(self, raw, too_big):
        """Handle one message; returns the answer to send, or None."""
        if too_big:
            self.note(ERROR, "message of %d bytes refused (limit %d KB)" % (
                too_big, self.cfg.get("backend.max_frame_kb")))
            return self._refuse(bytes(raw[:_HEAD]), "GenericError", "message too large")
        if ocpp.too_deep(raw, _DEPTH):
            self.note(ERROR, "message nested too deeply refused: %r" % bytes(raw[:40]))
            return self._refuse(bytes(raw[:_HEAD]), "FormationViolation", "nested too deeply")
        try:
            msg = json.loads(raw)
        except ValueError:
            self.note(ERROR, "frame is not JSON: %r" % bytes(raw[:40]))
            return None
        if not isinstance(msg, list) or len(msg) < 3 or msg[0] not in (2, 3, 4) or \
                not isinstance(msg[1], str):
            self.note(ERROR, "not an OCPP message: %.40s" % (msg,))
            if isinstance(msg, list) and len(msg) > 1 and isinstance(msg[1], str):
                return [4, msg[1], "FormationViolation", "not an OCPP-J message", {}]
            return None
        if msg[0] != 2:
            if msg[1] == self._wait:
                self._reply = msg
                self._got.set()
            else:
                self.note(ERROR, "answer to no request (%.20s)" % msg[1])
            return None
        mid = msg[1]
        action = msg[2]
        if not isinstance(action, str) or len(msg) != 4:
            return [4, mid, "FormationViolation", "CALL must be [2,id,action,{}]", {}]
        if self._boot == "Rejected":
            self.note(ERROR, "%.30s ignored: boot was rejected" % action)
            return None  # not answering until a BootNotification is accepted
        try:
            return [3, mid, _calls().handle(self, action, msg[3])]
        except CallError as e:
            self.note(ERROR, "%.30s refused: %s %s" % (action, e.args[0], e.args[1]))
            return [4, mid, e.args[0], e.args[1], {}]
        except Exception as e:  # noqa: BLE001 - a bug must not end the connection
            self.note(ERROR, "%.30s failed: %r" % (action, e))
            return [4, mid, "InternalError", str(e)[:80], {}]

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
