"""The backend link: this charge point's side of OCPP 1.6J over a WebSocket, and the
manual's digital charging service behaviour on top (online and charging-mode
indicators, intelligent vs immediate charging, the touch button, pairing).

Two supervised tasks: `run()` follows the charging core once a second (transactions,
meter values, status, smart charging limits, indicators) whether or not the backend is
reachable; `link()` keeps the connection (backoff with jitter), boots, and sends: the
transaction queue first, then other messages, then heartbeats, one CALL at a time.
CALLs from the backend are answered by the connection's reader task.

The charging core is touched only through its inputs: the BACKEND arbiter slot (smart
charging, availability, a stopped transaction) and the RFID service's authorization
(remote start and stop). Transaction messages go through `TxQueue` on flash, so a power
cut or an offline period loses none of them.

Imported only when the backend is enabled (app.py), so a box without it pays no RAM.
"""
import asyncio
import json
import os
import time
from binascii import crc32
from time import ticks_diff, ticks_ms

from micropython import const

from firmware.core import charger as ch
from firmware.core import front, limits, ocpp
from firmware.core import pilot as cp
from firmware.core.faults import GREEN, OFF, ORANGE, WHITE
from firmware.core.ocpp import CallError, need
from firmware.services import websocket
from firmware.services.config import load_json, save_json
from firmware.services.log import ERROR, INFO, SESSION

VENDOR_ID = "org.openwallbox"  # DataTransfer vendorId of this project's extensions
STATE = "ocpp.json"
LIST = "ocpplist.json"
QUEUE = "txq"
CA = "backend_ca.der"  # the backend's CA certificate (DER): TLS is verified if present
_EPOCH = 946684800 if time.gmtime(0)[0] == 2000 else 0
_CLOCK_OK = const(1735689600)  # 2025-01-01: a clock before this was never set
_LOW_DA = const(60)  # "starts with a low charging current" while waiting for a schedule
_PAIR_MS = const(120000)
_SAVE_MS = const(300000)  # the energy register is saved this often while charging
_SENDING = ("BootNotification", "DiagnosticsStatusNotification",
            "FirmwareStatusNotification", "Heartbeat", "MeterValues", "StatusNotification")
# link states (status page and online indicator)
DISABLED = const(0)
CONNECTING = const(1)
ONLINE = const(2)  # connected and accepted
REACHABLE = const(3)  # the server answers but does not let us in (yet)
OFFLINE = const(4)
STATES = ("Disabled", "Connecting", "Online", "Reachable", "Offline")


def _sync():
    try:
        os.sync()
    except AttributeError:
        pass


class TxQueue:
    """Transaction messages on flash, delivered in order: an append-only file of
    CRC-checked JSON lines [local tx, action, payload] and an acknowledgement record
    {"n": lines done, "ids": {local tx: transactionId}} saved atomically. A line torn by
    a power cut fails its CRC and is skipped; nothing acknowledged is sent twice
    except the one in flight when the power went."""

    def __init__(self, log, path=QUEUE, max_bytes=24576):
        self.log = log
        self.path = path
        self.max_bytes = max_bytes
        self.dropped = 0
        try:
            st = load_json(path + ".ack", None, log) or {}
        except ValueError as e:
            log.add(ERROR, "%s.ack unreadable (%s): resending the queue" % (path, e))
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
        if self.done >= self.count:  # all sent (the file may be gone already)
            self.done = self.count
            self._off = self.size
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
        _sync()
        self.size += len(line)

    def pending(self):
        return self.count - self.done

    def put(self, ltx, action, payload):
        """Queue a message; False if the queue is full (meter values go first)."""
        text = json.dumps([ltx, action, payload])
        line = "%08x %s\n" % (crc32(text.encode()), text)
        limit = self.max_bytes if action == "MeterValues" else self.max_bytes * 2
        if self.size + len(line) > limit:
            self.dropped += 1
            if self.dropped == 1 or action != "MeterValues":
                self.log.add(ERROR, "backend queue full: %s dropped" % action)
            return False
        self._append(line)
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
        save_json(self.path + ".ack", {"n": self.done, "ids": self.ids})
        if self.done >= self.count:  # all delivered: start a fresh file
            try:
                os.remove(self.path)
            except OSError:
                pass
            self.count = self.done = self.size = self._off = 0
            save_json(self.path + ".ack", {"n": 0, "ids": self.ids})


class Backend:
    def __init__(self, app):
        self.app = app
        self.log = app.log
        self.cfg = app.config
        self.front = app.panel.front
        app.panel.on_touch.append(self.touch)
        app.config.user_files.extend((STATE, LIST, QUEUE, QUEUE + ".ack"))
        rfid = getattr(app, "rfid", None)
        if rfid is not None:
            rfid.remote = self  # unknown cards: authorize(uid)
        self.q = TxQueue(self.log)
        try:
            st = load_json(STATE, None, self.log) or {}
        except ValueError as e:
            self.log.add(ERROR, "%s unreadable (%s): backend state reset" % (STATE, e))
            st = {}
        self.st = st
        self.keys = ocpp.defaults()
        for k, v in st.get("cfg", {}).items():
            if k in self.keys:
                self.keys[k] = v
        self.profiles = st.get("prof", [])
        self.wh = st.get("wh", 0)  # the energy register (Wh), never goes back
        self._mj = 0
        self.tx = st.get("tx")  # {"l": local id, "s": start, "m": meterStart, "t": idTag}
        self.finishing = False
        self.mode = front.IMMEDIATE
        self.state = DISABLED
        self.error = ""
        self.ws = None
        self.connected = False
        self.accepted = False
        self.pairing_at = None
        self.skew = 0  # backend clock - our clock (s)
        self._out = []  # [action, payload] to send (not transaction messages)
        self._wake = asyncio.Event()  # something to send
        self._tick = asyncio.Event()  # evaluate limits now (a new profile, a stop)
        self._lock = asyncio.Lock()
        self._got = asyncio.Event()
        self._wait = None  # unique id of our CALL in flight
        self._reply = None
        self._id = 0
        self._dead = None  # why the connection ended (set by the reader)
        self._boot_status = None
        self._tag = None  # [idTag, ticks] of a remote start waiting for the vehicle
        self._tries = 0  # delivery attempts of the queue's head
        self._retry_at = ticks_ms()
        self._sent_at = ticks_ms()
        self._status = [None, None]  # last status sent per connector (0, 1)
        self._sample_at = ticks_ms()
        self._aligned = None
        self._saved_at = ticks_ms()
        self._mode_at = ticks_ms()
        self._forced = False  # the touch button chose immediate charging
        self._authorized = False
        self._invalid = False  # the backend refused the idTag: offer nothing
        self._after = None
        self._fw = None  # [location, retrieve time, retries, interval] of an update
        if self.tx is not None:  # a session was cut by a power loss or a restart
            self._stop("PowerLoss" if st.get("boot") != "reset" else "Reboot",
                       st.get("wh", 0), None)
        if st.get("boot"):
            del st["boot"]
            self._save()
        if st.get("fw") == "Installing":  # an update restarted the box
            self._out.append(["FirmwareStatusNotification", {"status": "Installed"}])
            del st["fw"]
            self._save()

    # -------------------------------------------------------------------- helpers
    def _save(self):
        st = self.st
        st["cfg"] = {k: v for k, v in self.keys.items() if v != ocpp.key_row(k)[2]}
        st["prof"] = [p for p in self.profiles if p[1] != ocpp.TX]
        st["wh"] = self.wh
        st["tx"] = self.tx
        try:
            save_json(STATE, st)
        except OSError as e:
            self.log.add(ERROR, "backend state not saved: %s" % e)
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
                from firmware.services.network import set_clock
                set_clock(t, "backend")
                local = int(time.time()) + _EPOCH
            except ImportError:
                pass
            self.skew = t - local
            if abs(self.skew) > 2:
                self.log.add(INFO, "backend: clock set to %s" % text)

    def charger(self):
        return self.app.control.charger  # looked up each time: a restart replaces it

    def tx_id(self):
        return None if self.tx is None else self.q.ids.get(str(self.tx["l"]))

    def _rfid(self):
        r = getattr(self.app, "rfid", None)
        return None if r is None or not r.auth.enabled else r.auth

    def _push(self, action, payload):
        """Send soon (not a transaction message: dropped when offline)."""
        if action == "StatusNotification":  # only the latest status per connector
            for m in self._out:
                if m[0] == action and m[1]["connectorId"] == payload["connectorId"]:
                    m[1] = payload
                    return
        if len(self._out) < 8:
            self._out.append([action, payload])
            self._wake.set()

    # ----------------------------------------------------------------- energy/meter
    def _currents(self, c):
        ph = getattr(self.app.control, "phase_da", None)
        if ph is not None and max(ph) >= 0:
            return [max(x, 0) for x in ph]
        n = self.cfg.get("charging.phases")
        d = max(c.current_da, 0)
        return [d if i < n else 0 for i in range(3)]

    def _integrate(self, c, dt_ms):
        if not c.relay:
            return
        v = c.mains_dv if c.mains_dv > 0 else 2300
        self._mj += v * sum(self._currents(c)) // 100 * dt_ms  # W x ms = mJ
        if self._mj >= 3600000:
            self.wh += self._mj // 3600000
            self._mj %= 3600000

    def _sample(self, c, measurands, context):
        """A meterValue object with the listed measurands."""
        out = []
        cur = None
        for m in measurands.split(","):
            if m == "Energy.Active.Import.Register":
                out.append({"value": str(self.wh), "measurand": m, "unit": "Wh",
                            "context": context})
            elif m == "Current.Import":
                cur = cur or self._currents(c)
                for i in range(3):
                    out.append({"value": "%d.%d" % (cur[i] // 10, cur[i] % 10),
                                "measurand": m, "phase": "L%d" % (i + 1), "unit": "A",
                                "context": context})
            elif m == "Current.Offered":
                out.append({"value": "%d.%d" % (c.offered_da // 10, c.offered_da % 10),
                            "measurand": m, "unit": "A", "context": context})
            elif m == "Power.Active.Import":
                cur = cur or self._currents(c)
                v = c.mains_dv if c.mains_dv > 0 else 2300
                out.append({"value": str(v * sum(cur) // 100 if c.relay else 0),
                            "measurand": m, "unit": "W", "context": context})
            elif m == "Voltage" and c.mains_dv >= 0:
                out.append({"value": "%d.%d" % (c.mains_dv // 10, c.mains_dv % 10),
                            "measurand": m, "phase": "L1-N", "unit": "V", "context": context})
            elif m == "Temperature":
                out.append({"value": "%d.%d" % (c.temp_dc // 10, abs(c.temp_dc) % 10),
                            "measurand": m, "location": "Body", "unit": "Celsius",
                            "context": context})
        return {"timestamp": self.stamp(), "sampledValue": out}

    # ------------------------------------------------------------------ transactions
    def _start(self, tag, t):
        st = self.st
        ltx = st.get("ltx", 0) + 1
        st["ltx"] = ltx
        self.tx = {"l": ltx, "s": t, "m": self.wh, "t": tag}
        p = {"connectorId": 1, "idTag": tag, "meterStart": self.wh, "timestamp": self.stamp()}
        res = st.get("res")
        if res is not None:
            p["reservationId"] = res[0]
            st["res"] = None
        self._tag = None
        self._invalid = False
        self._sample_at = ticks_ms()
        self.mode = front.WAITING_SCHEDULE if self.accepted and \
            self.cfg.get("backend.schedule_wait_s") else front.IMMEDIATE
        self._mode_at = ticks_ms()
        self._forced = False
        self.q.put(ltx, "StartTransaction", p)
        self._save()
        self.log.add(SESSION, "backend: transaction %d started for %s at %d Wh" % (
            ltx, tag, self.wh))
        self._wake.set()

    def _stop(self, reason, wh, c):
        tx = self.tx
        p = {"meterStop": wh, "timestamp": self.stamp(), "reason": reason,
             "idTag": tx["t"]}
        data = self.keys["StopTxnSampledData"]
        if data and c is not None:
            p["transactionData"] = [self._sample(c, data, "Transaction.End")]
        self.q.put(tx["l"], "StopTransaction", p)
        self.log.add(SESSION, "backend: transaction %d stopped (%s) at %d Wh" % (
            tx["l"], reason, wh))
        self.tx = None
        self.profiles = [x for x in self.profiles if x[1] != ocpp.TX]
        self.mode = front.IMMEDIATE
        self._invalid = False
        self._save()
        if self.st.get("inop_at_end"):
            self.st["inop"] = True
            del self.st["inop_at_end"]
            self._save()
        self._wake.set()

    def stop(self, reason):
        """End the running transaction (remote stop, reset, refused idTag) and take
        the authorization back; the vehicle stays connected: Finishing."""
        if self.tx is None:
            return False
        c = self.charger()
        self._stop(reason, self.wh, c)
        self.finishing = True
        a = self._rfid()
        if a is not None:
            a.holder = None
            a.bound = False
        return True

    def _session(self, c, t):
        s = c.pilot.state
        plugged = cp.B <= s <= cp.D
        ph = c.phase
        auth = c.authorized
        if auth and not self._authorized:
            self.finishing = False  # authorized again (a new card): a new transaction
        self._authorized = auth
        if self._tag is not None and ticks_diff(ticks_ms(), self._tag[1]) >= \
                self.keys["ConnectionTimeOut"] * 1000 and not plugged:
            self.log.add(INFO, "backend: remote start for %s lapsed" % self._tag[0])
            self._tag = None
        if self.tx is not None:
            if not plugged and self.keys["StopTransactionOnEVSideDisconnect"]:
                self._stop("EVDisconnected", self.wh, c)
            elif ph == ch.PERMANENT:
                self._stop("Other", self.wh, c)
                self.finishing = True
            elif not auth and (ph == ch.WAIT_AUTH or ph == ch.IDLE):
                self._stop("Local", self.wh, c)  # its card ended it
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
        if not plugged:
            self.finishing = False

    # --------------------------------------------------------------- limits and modes
    def _schedule(self, t, immediate):
        tx = self.tx
        ps = self.profiles
        if immediate:  # the charge point's maximum still applies
            ps = [p for p in ps if p[1] == ocpp.CP_MAX]
        if t is None or not ps:
            return None
        return ocpp.limit_at(ps, t, self.tx_id(), None if tx is None else tx["s"],
                             self.cfg.get("charging.phases"))

    def _has_schedule(self, t):
        tx = self.tx
        ps = [p for p in self.profiles if p[1] != ocpp.CP_MAX]
        return t is not None and tx is not None and ocpp.limit_at(
            ps, t, self.tx_id(), tx["s"]) is not None

    def _limits(self, c, t):
        """The BACKEND claim, and the charging mode: a schedule from the backend makes
        charging intelligent (unless the touch button chose immediate charging); none
        within backend.schedule_wait_s means immediate charging."""
        st = self.st
        res = st.get("res")
        plugged = cp.B <= c.pilot.state <= cp.D
        tx = self.tx
        if tx is not None and not self._forced and self.mode != front.INTELLIGENT and \
                self._has_schedule(t):
            self.mode = front.INTELLIGENT
            self.log.add(INFO, "backend: intelligent charging: schedule received")
        elif tx is not None and self.mode == front.WAITING_SCHEDULE and \
                ticks_diff(ticks_ms(), self._mode_at) >= \
                self.cfg.get("backend.schedule_wait_s") * 1000:
            self.mode = front.IMMEDIATE
            self.log.add(INFO, "backend: no schedule received: immediate charging")
        if tx is None:  # a session about to start waits with the low current from its start
            waiting = plugged and not self.finishing and self.accepted and \
                self.cfg.get("backend.schedule_wait_s") > 0
        else:
            waiting = self.mode == front.WAITING_SCHEDULE
        if st.get("inop") or (self.finishing and plugged) or self._invalid or \
                (tx is None and plugged and res is not None):
            da = 0
        elif waiting:
            da = _LOW_DA
            lim = self._schedule(t, True)
            if lim is not None and lim < da:
                da = lim
        else:
            da = self._schedule(t, self._forced)
        self.app.arbiter.set(limits.BACKEND, da)

    def switchable(self, c):
        return (self.tx is not None and c.authorized and not self.finishing and
                (c.phase == ch.READY or c.phase == ch.CHARGING or c.phase == ch.SUSPENDED or
                 c.phase == ch.WAKEUP) and (self.accepted or self.mode != front.IMMEDIATE))

    def touch(self):
        """The touch button: confirms pairing, else switches the charging mode."""
        if self.pairing_at is not None:
            self.pairing_at = None
            self.st["paired"] = self.st["synced"] = True
            self._save()
            self._push("DataTransfer", {"vendorId": VENDOR_ID, "messageId": "Paired"})
            self.log.add(INFO, "backend: pairing confirmed on the box")
            return
        if not self.switchable(self.charger()):
            return
        self._forced = self.mode != front.IMMEDIATE
        if self._forced:
            self.mode = front.IMMEDIATE
        else:
            self.mode = front.INTELLIGENT if self._has_schedule(self.now()) else \
                front.WAITING_SCHEDULE
            self._mode_at = ticks_ms()
        word = "immediate" if self.mode == front.IMMEDIATE else "intelligent"
        self.log.add(INFO, "backend: touch button: %s charging" % word)
        self._push("DataTransfer", {"vendorId": VENDOR_ID, "messageId": "ChargingMode",
                                    "data": word})

    def _indicators(self, c):
        f = self.front
        s = self.state
        if self.pairing_at is not None and \
                ticks_diff(ticks_ms(), self.pairing_at) >= _PAIR_MS:
            self.pairing_at = None
            self.log.add(INFO, "backend: pairing not confirmed within 2 minutes")
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
        f.touch = WHITE if self.pairing_at is not None or self.switchable(c) else OFF
        f.charge_mode = front.MODULE_FAULT if self.error == "configuration" else \
            self.mode if self.tx is not None else front.IMMEDIATE

    def _status1(self, c):
        return self._connector(c)[0]

    def _connector(self, c):
        st = self.st
        return ocpp.connector_status(c, self.tx is not None, self.finishing,
                                     st.get("inop", False), st.get("res") is not None)

    def _statuses(self, c):
        st = self.st
        s1 = self._connector(c)
        s0 = ("Unavailable" if st.get("inop") else ocpp.AVAILABLE, "NoError", "")
        for n, s in ((0, s0), (1, s1)):
            if s != self._status[n]:
                self._status[n] = s
                p = {"connectorId": n, "status": s[0], "errorCode": s[1],
                     "timestamp": self.stamp()}
                if s[2]:
                    p["vendorErrorCode"] = s[2]
                if self.accepted:
                    self._push("StatusNotification", p)

    # ------------------------------------------------------------------ the watch task
    async def run(self, period_ms=500):
        last = ticks_ms()
        while True:
            now = ticks_ms()
            c = self.charger()
            t = self.now()
            self._integrate(c, ticks_diff(now, last))
            last = now
            self._session(c, t)
            self._limits(c, t)
            self._indicators(c)
            self._statuses(c)
            k = self.keys
            if self.tx is not None and k["MeterValueSampleInterval"] and \
                    ticks_diff(now, self._sample_at) >= k["MeterValueSampleInterval"] * 1000:
                self._sample_at = now
                self.q.put(self.tx["l"], "MeterValues", {
                    "connectorId": 1,
                    "meterValue": [self._sample(c, k["MeterValuesSampledData"],
                                                "Sample.Periodic")]})
                self._wake.set()
            iv = k["ClockAlignedDataInterval"]
            if iv and t is not None:
                slot = t // iv
                if self._aligned is not None and slot != self._aligned and \
                        k["MeterValuesAlignedData"]:
                    p = {"connectorId": 1, "meterValue": [
                        self._sample(c, k["MeterValuesAlignedData"], "Sample.Clock")]}
                    if self.tx is not None:
                        self.q.put(self.tx["l"], "MeterValues", p)
                    elif self.accepted:
                        self._push("MeterValues", p)
                self._aligned = slot
            res = self.st.get("res")
            if res is not None and t is not None and t >= res[1]:
                self.st["res"] = None
                self._save()
                self.log.add(INFO, "backend: reservation %d expired" % res[0])
            if c.relay and ticks_diff(now, self._saved_at) >= _SAVE_MS:
                self._save()
            fw = self._fw
            if fw is not None and t is not None and t >= fw[1]:
                self._fw = None
                asyncio.create_task(self._update(fw))
            try:
                await asyncio.wait_for_ms(self._tick.wait(), period_ms)
            except asyncio.TimeoutError:
                pass
            self._tick.clear()

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
                self.error = "" if self.error == "configuration" else self.error
            except ValueError as e:
                if self.error != "configuration":
                    self.log.add(ERROR, "backend: %s: %s" % (target[0], e))
                self.error = "configuration"
                self.state = DISABLED
                await asyncio.sleep_ms(5000)
                continue
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
                                 target[2], target[3], ca,
                                 self.cfg.get("backend.timeout_s") * 1000)
            except Exception as e:  # noqa: BLE001 - DNS, TCP, TLS, HTTP, handshake
                fails += 1
                self.state = REACHABLE if ws.reached else OFFLINE
                await self._pause(fails, "cannot connect to %s: %s" % (target[0], e))
                continue
            self.log.add(INFO, "backend: connected to " + target[0])
            self.ws = ws
            self.connected = True
            self._dead = None
            self._boot_status = None
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
            fails = 1 if self._boot_status == "Accepted" else fails + 1
            await self._pause(fails, "connection ended: %s" % why)

    async def _pause(self, fails, why):
        cap = self.cfg.get("backend.retry_max_s")
        base = min(cap, 1 << min(fails, 12))
        delay_ms = base * 500 + os.urandom(1)[0] * base * 500 // 255  # 50..100 %
        self.error = why
        self.log.add(ERROR, "backend: %s; next try in %d s" % (why, delay_ms // 1000))
        t0 = ticks_ms()
        while ticks_diff(ticks_ms(), t0) < delay_ms and self._target() is not None:
            await asyncio.sleep_ms(200)

    async def _serve(self, ws, target):
        g = self.cfg.get
        interval = 60
        while True:  # boot until accepted
            r = await self.call("BootNotification", self._boot())
            self._set_clock(r.get("currentTime"))
            interval = r.get("interval") if isinstance(r.get("interval"), int) else 60
            self._boot_status = r.get("status")
            if r.get("status") == "Accepted":
                break
            self.state = REACHABLE
            self.log.add(INFO, "backend: boot %s; again in %d s" % (r.get("status"), interval))
            await self._idle(max(interval, 10) * 1000, target)
        self.accepted = True
        self.state = ONLINE
        self.error = ""
        if interval > 0:
            self.keys["HeartbeatInterval"] = interval
        if not self.st.get("synced"):
            self.st["synced"] = True
            self._save()
        self._status = [None, None]  # send both connectors' status again
        ping_at = ticks_ms()
        while True:
            now = ticks_ms()
            if self._target() != target:
                raise OSError("settings changed")
            k = self.keys
            if k["WebSocketPingInterval"] and \
                    ticks_diff(now, ping_at) >= k["WebSocketPingInterval"] * 1000:
                if ticks_diff(now, ws.pong_at) > 3 * k["WebSocketPingInterval"] * 1000:
                    raise OSError("no answer to pings")
                ping_at = now
                await ws.ping()
            if await self._deliver():
                continue
            if self._out:
                m = self._out.pop(0)
                try:
                    self._answer(m[0], await self.call(m[0], m[1]))
                except CallError as e:
                    self.log.add(ERROR, "backend: %s failed: %s" % (m[0], e.args[1]))
                continue
            hb = k["HeartbeatInterval"]
            if hb and ticks_diff(now, self._sent_at) >= hb * 1000:
                try:
                    self._set_clock((await self.call("Heartbeat", {})).get("currentTime"))
                except CallError as e:
                    self.log.add(ERROR, "backend: Heartbeat failed: %s" % e.args[1])
                continue
            await self._idle(1000, target)

    async def _idle(self, ms, target):
        """Wait for something to send, at most `ms`; raises if the connection ended."""
        t0 = ticks_ms()
        while True:
            if self._dead:
                raise OSError(self._dead)
            left = ms - ticks_diff(ticks_ms(), t0)
            if left <= 0:
                return
            try:
                await asyncio.wait_for_ms(self._wake.wait(), min(left, 1000))
                self._wake.clear()
                return
            except asyncio.TimeoutError:
                if self._target() != target:
                    raise OSError("settings changed")

    def _boot(self):
        p = {"chargePointVendor": "Open Wallbox", "chargePointModel":
             ("Wallbox " + self.app.board.NAME)[:20]}
        serial = self.cfg.prov.get("serial")
        if serial:
            p["chargePointSerialNumber"] = serial[:25]
        try:
            with open((load_json("update.json", {}).get("active") or ".") + "/manifest.json") as f:
                p["firmwareVersion"] = str(json.load(f).get("version"))[:50]
        except (OSError, ValueError):
            pass
        return p

    def _answer(self, action, r):
        if action == "Heartbeat" or action == "BootNotification":
            self._set_clock(r.get("currentTime"))

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
                self.log.add(ERROR, "backend: %s of transaction %d dropped: it never "
                                    "got a transactionId" % (action, ltx))
                q.ack(ltx, forget=action == "StopTransaction")
                return True
            p["transactionId"] = tid
        if p.get("timestamp", 1) is None:
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
                self.log.add(ERROR, "backend: %s given up after %d tries: %s" % (
                    action, self._tries, e.args[1]))
                self._tries = 0
                q.ack(ltx, forget=not start)
            else:
                self.log.add(ERROR, "backend: %s failed (%s), try %d" % (
                    action, e.args[1], self._tries))
                self._retry_at = ticks_ms() + k["TransactionMessageRetryInterval"] * \
                    1000 * self._tries
            return True
        self._tries = 0
        if start:
            tid = r.get("transactionId")
            q.ack(ltx, tid if isinstance(tid, int) else -1)
            info = r.get("idTagInfo") or {}
            if info.get("status") != "Accepted" and self.tx is not None and \
                    self.tx["l"] == ltx:
                self.log.add(INFO, "backend: idTag %s %s" % (p["idTag"], info.get("status")))
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
            try:
                await ws.send(json.dumps([2, mid, action, payload]))
                self._sent_at = ticks_ms()
                await asyncio.wait_for_ms(self._got.wait(),
                                          self.cfg.get("backend.timeout_s") * 1000)
            except asyncio.TimeoutError:
                raise CallError("NoAnswer", "no answer within %d s" %
                                self.cfg.get("backend.timeout_s"))
            finally:
                self._wait = None
            r = self._reply
            if r is None:
                raise OSError("connection lost")
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
                except MemoryError:
                    out = raw = None
                    self.log.add(ERROR, "backend: message too large for the memory")
                if out is not None:
                    await ws.send(json.dumps(out))
                if self._after is not None:  # work that follows the answer
                    f, self._after = self._after, None
                    asyncio.create_task(f())
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - the connection ended or broke
            self._dead = str(e) or type(e).__name__
        finally:
            if self._dead is None:
                self._dead = "closed"
            self._got.set()
            self._wake.set()

    def _frame(self, raw, too_big):
        """Handle one message; returns the answer to send, or None."""
        if too_big:
            head = bytes(raw)
            self.log.add(ERROR, "backend: message of %d bytes refused (limit %d KB)" % (
                too_big, self.cfg.get("backend.max_frame_kb")))
            i = head.find(b'"')
            j = head.find(b'"', i + 1)
            if head[:1] == b"[" and head[1:3] in (b"2,", b"3,", b"4,") and 0 < i < j:
                mid = head[i + 1:j].decode()
                if head[1:2] == b"2":
                    return [4, mid, "GenericError", "message too large", {}]
                if mid == self._wait:
                    self._reply = [4, mid, "GenericError", "answer too large"]
                    self._got.set()
            return None
        try:
            msg = json.loads(raw)
        except ValueError:
            self.log.add(ERROR, "backend: frame is not JSON: %r" % bytes(raw[:40]))
            return None
        if not isinstance(msg, list) or len(msg) < 3 or msg[0] not in (2, 3, 4) or \
                not isinstance(msg[1], str):
            self.log.add(ERROR, "backend: not an OCPP message: %.40s" % (msg,))
            if isinstance(msg, list) and len(msg) > 1 and isinstance(msg[1], str):
                return [4, msg[1], "FormationViolation", "not an OCPP-J message", {}]
            return None
        if msg[0] != 2:
            if msg[1] == self._wait:
                self._reply = msg
                self._got.set()
            else:
                self.log.add(ERROR, "backend: answer to no request (%.20s)" % msg[1])
            return None
        mid = msg[1]
        action = msg[2]
        if not isinstance(action, str) or len(msg) != 4:
            return [4, mid, "FormationViolation", "CALL must be [2,id,action,{}]", {}]
        if self._boot_status == "Rejected":
            self.log.add(ERROR, "backend: %.30s ignored: boot was rejected" % action)
            return None  # not answering until a BootNotification is accepted
        try:
            ocpp.check_call(action, msg[3])
            out = getattr(self, "_cs_" + action)(msg[3])
        except CallError as e:
            self.log.add(ERROR, "backend: %.30s refused: %s %s" % (action, e.args[0], e.args[1]))
            return [4, mid, e.args[0], e.args[1], {}]
        except Exception as e:  # noqa: BLE001 - a bug must not end the connection
            self.log.add(ERROR, "backend: %s failed: %r" % (action, e))
            return [4, mid, "InternalError", str(e)[:80], {}]
        return [3, mid, out]

    # ------------------------------------------------ CALLs from the central system
    def _cs_ChangeAvailability(self, p):
        need(p["type"] in ("Operative", "Inoperative"), "type")
        if p["connectorId"] not in (0, 1):
            return {"status": "Rejected"}
        inop = p["type"] == "Inoperative"
        st = self.st
        if inop and self.tx is not None:
            st["inop_at_end"] = True
            self._save()
            return {"status": "Scheduled"}
        st.pop("inop_at_end", None)
        if st.get("inop", False) != inop:
            st["inop"] = inop
            self._save()
            self.log.add(INFO, "backend: charge point %s" % p["type"].lower())
        self._tick.set()
        return {"status": "Accepted"}

    def _cs_ChangeConfiguration(self, p):
        key, value = p["key"], p["value"]
        need(len(key) <= 50 and len(value) <= 500, "key or value too long")
        if key == "AuthorizationKey":
            if len(value) < 16 or self.cfg.update({"backend.key": value}):
                return {"status": "Rejected"}
            self.log.add(INFO, "backend: authorization key changed")
            return {"status": "Accepted"}
        row = ocpp.key_row(key)
        if row is None:
            return {"status": "NotSupported"}
        if not row[5]:
            return {"status": "Rejected"}
        try:
            v = ocpp.parse_key(row, value)
        except ValueError as e:
            self.log.add(ERROR, "backend: %s=%.20s rejected: %s" % (key, value, e))
            return {"status": "Rejected"}
        self.keys[key] = v
        self._save()
        self.log.add(INFO, "backend: %s set to %s" % (key, ocpp.text(v)))
        return {"status": "Accepted"}

    def _cs_ClearCache(self, p):
        return {"status": "Accepted"}  # no authorization cache: nothing to clear

    def _cs_ClearChargingProfile(self, p):
        keep = []
        pur = p.get("chargingProfilePurpose")
        level = p.get("stackLevel")
        for x in self.profiles:
            if p.get("id") is not None:
                gone = x[0] == p["id"]
            else:  # one connector: a connectorId of 0 or 1 matches every profile
                gone = p.get("connectorId", 0) in (0, 1) and \
                    (pur is None or ocpp.PURPOSES[x[1]] == pur) and \
                    (level is None or x[2] == level)
            if not gone:
                keep.append(x)
        if len(keep) == len(self.profiles):
            return {"status": "Unknown"}
        self.profiles = keep
        self._save()
        self._tick.set()
        return {"status": "Accepted"}

    def _cs_DataTransfer(self, p):
        if p["vendorId"] != VENDOR_ID:
            return {"status": "UnknownVendorId"}
        if p.get("messageId") != "Pair":
            return {"status": "UnknownMessageId"}
        if cp.B <= self.charger().pilot.state <= cp.D:
            return {"status": "Rejected", "data": "vehicle connected"}
        self.pairing_at = ticks_ms()
        self.log.add(INFO, "backend: pairing requested: press the touch button")
        return {"status": "Accepted"}

    def _cs_GetCompositeSchedule(self, p):
        unit = p.get("chargingRateUnit") or "A"
        need(unit in ("A", "W"), "chargingRateUnit")
        t = self.now()
        if p["connectorId"] not in (0, 1) or t is None or p["duration"] < 0:
            return {"status": "Rejected"}
        dur = min(p["duration"], 604800)
        tx = self.tx
        arb = self.app.arbiter
        cap = min(arb.claims[limits.INSTALLATION], arb.claims[limits.CABLE],
                  arb.claims[limits.CONFIGURED])
        phases = self.cfg.get("charging.phases")
        periods = []
        for off, da in ocpp.composite(self.profiles, t, dur, self.tx_id(),
                                      None if tx is None else tx["s"], cap, phases)[:64]:
            lim = da / 10 if unit == "A" else da * 23 * phases
            periods.append({"startPeriod": off, "limit": lim})
        return {"status": "Accepted", "connectorId": p["connectorId"],
                "scheduleStart": ocpp.iso(t),
                "chargingSchedule": {"duration": dur, "startSchedule": ocpp.iso(t),
                                     "chargingRateUnit": unit,
                                     "chargingSchedulePeriod": periods}}

    def _cs_GetConfiguration(self, p):
        want = p.get("key") or [row[0] for row in ocpp.KEYS]
        known = []
        unknown = []
        for k in want[:50]:
            row = ocpp.key_row(k) if isinstance(k, str) else None
            if row is None:
                unknown.append(str(k)[:50])
            else:
                known.append({"key": k, "readonly": not row[5],
                              "value": ocpp.text(self.keys[k])})
        out = {"configurationKey": known}
        if unknown:
            out["unknownKey"] = unknown
        return out

    def _cs_GetDiagnostics(self, p):
        dl = getattr(self.app, "datalog", None)
        if dl is None or not p["location"].startswith(("http://", "https://")):
            self.log.add(ERROR, "backend: diagnostics upload to %.40s not supported" %
                         p["location"])
            return {}
        name = "log-%s.txt" % self.cfg.prov.get("serial", "wallbox")
        self._after = lambda: self._upload(p["location"], name, p.get("retries") or 0)
        return {"fileName": name}

    async def _upload(self, url, name, retries):
        dl = self.app.datalog
        self._push("DiagnosticsStatusNotification", {"status": "Uploading"})
        for i in range(retries + 1):
            try:
                dl.flush()
                code = await websocket.upload(url, dl.chunks, name)
                if 200 <= code < 300:
                    self.log.add(INFO, "backend: data log uploaded")
                    self._push("DiagnosticsStatusNotification", {"status": "Uploaded"})
                    return
                why = "HTTP %d" % code
            except Exception as e:  # noqa: BLE001 - any failure is reported, not raised
                why = str(e) or type(e).__name__
            self.log.add(ERROR, "backend: data log upload failed (%s)" % why)
            await asyncio.sleep_ms(5000)
        self._push("DiagnosticsStatusNotification", {"status": "UploadFailed"})

    def _cs_GetLocalListVersion(self, p):
        if not self.keys["LocalAuthListEnabled"]:
            return {"listVersion": -1}
        return {"listVersion": self._list().get("v", 0)}

    def _cs_RemoteStartTransaction(self, p):
        tag = p["idTag"]
        need(len(tag) <= 20, "idTag longer than 20")
        c = self.charger()
        res = self.st.get("res")
        prof = p.get("chargingProfile")
        if prof is not None:
            try:
                prof = ocpp.parse_profile(prof, self.now())
            except ValueError:
                return {"status": "Rejected"}
            if prof[1] != ocpp.TX:
                return {"status": "Rejected"}
        if p.get("connectorId", 1) != 1 or self.tx is not None or \
                self._status1(c) in ("Faulted", "Unavailable") or \
                (res is not None and tag != res[2] and tag != res[3]):
            return {"status": "Rejected"}
        if prof is not None:
            self.profiles = [x for x in self.profiles if x[1] != ocpp.TX] + [prof]
        if self.keys["AuthorizeRemoteTxRequests"]:
            self._after = lambda: self._remote_auth(tag)
        else:
            self._grant(tag)
        return {"status": "Accepted"}

    def _grant(self, tag):
        self._tag = [tag, ticks_ms()]
        self.finishing = False
        a = self._rfid()
        if a is not None:
            a.grant(tag, ticks_ms())
        self.log.add(INFO, "backend: remote start for %s" % tag)
        self._tick.set()

    async def _remote_auth(self, tag):
        try:
            r = await self.call("Authorize", {"idTag": tag})
            if (r.get("idTagInfo") or {}).get("status") == "Accepted":
                self._grant(tag)
                return
        except (CallError, OSError) as e:
            self.log.add(ERROR, "backend: Authorize failed: %s" % (e,))
        self.log.add(INFO, "backend: remote start for %s not authorized" % tag)

    def _cs_RemoteStopTransaction(self, p):
        if self.tx is None or p["transactionId"] != self.tx_id():
            return {"status": "Rejected"}
        self.stop("Remote")
        self._tick.set()
        return {"status": "Accepted"}

    def _cs_ReserveNow(self, p):
        need(len(p["idTag"]) <= 20, "idTag longer than 20")
        c = self.charger()
        res = self.st.get("res")
        if p["connectorId"] != 1:
            return {"status": "Rejected"}
        st = self._status1(c)
        if st == "Faulted" or st == "Unavailable":
            return {"status": st}
        if st not in ("Available", "Reserved") or \
                (res is not None and res[0] != p["reservationId"]):
            return {"status": "Occupied"}
        self.st["res"] = [p["reservationId"], ocpp.to_unix(p["expiryDate"]), p["idTag"],
                          p.get("parentIdTag")]
        self._save()
        self.log.add(INFO, "backend: reserved for %s" % p["idTag"])
        return {"status": "Accepted"}

    def _cs_CancelReservation(self, p):
        res = self.st.get("res")
        if res is None or res[0] != p["reservationId"]:
            return {"status": "Rejected"}
        self.st["res"] = None
        self._save()
        return {"status": "Accepted"}

    def _cs_Reset(self, p):
        kind = p["type"]
        need(kind in ("Hard", "Soft"), "type")
        self._after = lambda: self._reset(kind)
        return {"status": "Accepted"}

    async def _reset(self, kind):
        self.log.add(INFO, "backend: %s reset" % kind.lower())
        self.stop(kind + "Reset")
        t0 = ticks_ms()  # a few seconds to deliver the StopTransaction
        while self.q.pending() and self.connected and ticks_diff(ticks_ms(), t0) < 5000:
            await asyncio.sleep_ms(100)
        self.st["boot"] = "reset"
        self._save()
        self.app.restart("backend: %s reset" % kind.lower())

    def _cs_SendLocalList(self, p):
        kind = p["updateType"]
        need(kind in ("Full", "Differential"), "updateType")
        if not self.keys["LocalAuthListEnabled"]:
            return {"status": "NotSupported"}
        doc = {"v": 0, "e": {}} if kind == "Full" else self._list()
        if kind == "Differential" and p["listVersion"] <= doc.get("v", 0):
            return {"status": "VersionMismatch"}
        e = doc.setdefault("e", {})
        for item in p.get("localAuthorizationList") or ():
            ocpp.check(ocpp.AUTH_ENTRY, item)
            info = item.get("idTagInfo")
            if info is None:
                e.pop(item["idTag"], None)
            else:
                ocpp.check(ocpp.TAG_INFO, info)
                e[item["idTag"][:20]] = [info["status"], info.get("expiryDate"),
                                         info.get("parentIdTag")]
        if len(e) > self.keys["LocalAuthListMaxLength"]:
            return {"status": "Failed"}
        doc["v"] = p["listVersion"]
        try:
            save_json(LIST, doc)
        except OSError as err:
            self.log.add(ERROR, "backend: local list not saved: %s" % err)
            return {"status": "Failed"}
        self.log.add(INFO, "backend: local list version %d, %d entries" % (doc["v"], len(e)))
        return {"status": "Accepted"}

    def _list(self):
        try:
            return load_json(LIST, {"v": 0, "e": {}}, self.log)
        except ValueError:
            return {"v": 0, "e": {}}

    def _cs_SetChargingProfile(self, p):
        try:
            prof = ocpp.parse_profile(p["csChargingProfiles"], self.now())
        except ValueError as e:
            self.log.add(ERROR, "backend: charging profile rejected: %s" % e)
            return {"status": "Rejected"}
        conn = p["connectorId"]
        pur = prof[1]
        if conn not in (0, 1) or (pur == ocpp.CP_MAX and conn != 0) or \
                (pur == ocpp.TX and (conn != 1 or self.tx is None or
                                     prof[11] not in (None, self.tx_id()))):
            return {"status": "Rejected"}
        keep = [x for x in self.profiles if x[0] != prof[0] and
                not (x[1] == pur and x[2] == prof[2])]
        if len(keep) >= ocpp.MAX_PROFILES:
            return {"status": "Rejected"}
        self.profiles = keep + [prof]
        self._save()
        self._tick.set()
        self.log.add(INFO, "backend: %s %d set (stack level %d)" % (
            ocpp.PURPOSES[pur], prof[0], prof[2]))
        return {"status": "Accepted"}

    def _cs_TriggerMessage(self, p):
        what = p["requestedMessage"]
        if what not in _SENDING:
            return {"status": "NotImplemented"}
        if p.get("connectorId") not in (None, 0, 1):
            return {"status": "Rejected"}
        c = self.charger()
        if what == "BootNotification":
            m = self._boot()
        elif what == "StatusNotification":
            self._status = [None, None]
            self._tick.set()
            return {"status": "Accepted"}
        elif what == "MeterValues":
            m = {"connectorId": 1, "meterValue": [
                self._sample(c, self.keys["MeterValuesSampledData"], "Trigger")]}
            if self.tx is not None and self.tx_id() is not None:
                m["transactionId"] = self.tx_id()
        elif what == "FirmwareStatusNotification":
            m = {"status": self.st.get("fw") or "Idle"}
        elif what == "DiagnosticsStatusNotification":
            m = {"status": "Idle"}
        else:
            m = {}
        self._push(what, m)
        return {"status": "Accepted"}

    def _cs_UnlockConnector(self, p):
        return {"status": "NotSupported"}  # a fixed cable: there is no lock

    def _cs_UpdateFirmware(self, p):
        t = ocpp.to_unix(p["retrieveDate"])
        self._fw = [p["location"], t, p.get("retries") or 0, p.get("retryInterval") or 60]
        self.log.add(INFO, "backend: software update from %.60s at %s" % (
            p["location"], p["retrieveDate"]))
        return {}

    async def _update(self, fw):
        def status(s):
            self.st["fw"] = s
            self._save()
            self._push("FirmwareStatusNotification", {"status": s})
        for i in range(fw[2] + 1):
            status("Downloading")
            try:
                await self.app.updater().install_from_url(fw[0])
                status("Installing")
                t0 = ticks_ms()  # let the notification go out, then start the new version
                while self._out and self.connected and ticks_diff(ticks_ms(), t0) < 5000:
                    await asyncio.sleep_ms(100)
                self.stop("Reboot")
                self.st["boot"] = "reset"
                self._save()
                self.app.restart("backend: software update")
                return
            except Exception as e:  # noqa: BLE001 - UpdateError, network, flash
                self.log.add(ERROR, "backend: software update failed: %s" % e)
            await asyncio.sleep_ms(fw[3] * 1000)
        status("InstallationFailed" if self.st.get("fw") == "Downloading" else "DownloadFailed")
        self.st["fw"] = None

    # ----------------------------------------------------- authorization of cards
    async def authorize(self, uid):
        """For the RFID service: a card not in the whitelist. True / False, or None
        when neither the backend nor the local list knows it."""
        k = self.keys
        e = self._list().get("e", {}).get(uid) if k["LocalAuthListEnabled"] else None
        t = self.now()
        ok = e is not None and e[0] == "Accepted" and \
            (e[1] is None or t is None or (ocpp.to_unix(e[1]) or 0) > t)
        if ok and k["LocalPreAuthorize"]:
            return True
        if self.accepted:
            try:
                r = await self.call("Authorize", {"idTag": uid[:20]})
                return (r.get("idTagInfo") or {}).get("status") == "Accepted"
            except (CallError, OSError) as err:
                self.log.add(ERROR, "backend: Authorize failed: %s" % (err,))
        if e is not None:
            return ok and k["LocalAuthorizeOffline"]
        return True if k["AllowOfflineTxForUnknownId"] else None

    # ----------------------------------------------------------------- for the web
    def status(self):
        """For the status page: connection state, synchronisation, last error."""
        return {"state": STATES[self.state], "paired": bool(self.st.get("paired")),
                "synced": bool(self.st.get("synced")), "error": self.error,
                "queued": self.q.pending(), "transaction": self.tx_id()}
