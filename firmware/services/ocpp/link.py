"""The backend's connection, as the base class of backend.Backend: keeps the WebSocket
to the central system (backoff with jitter), boots, sends the transaction queue first,
then other messages, then heartbeats, one CALL at a time, and answers the central
system's CALLs with calls.py, loaded for each CALL and dropped afterwards. The state it
uses lives in the Backend object (backend.py sets it up)."""
import asyncio
import json
import os
import sys
from time import ticks_add, ticks_diff, ticks_ms

from micropython import const

from firmware.core import ocpp
from firmware.core.ocpp import CallError
from firmware.services.net import websocket
from firmware.services.platform.log import ERROR, INFO
from firmware.services.platform.supervisor import stepwise

CA = "backend_ca.der"  # the backend's CA certificate (DER): TLS is verified if present
_CALLS = "firmware.services.ocpp.calls"
_MGMT = "firmware.services.ocpp.mgmt"  # the less frequent CALLs (calls.handle loads it)
_DEPTH = const(16)  # deepest nesting of a message (OCPP 1.6 needs 6)
_HEAD = const(64)  # bytes of a refused message searched for its unique id
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


def _steps():
    yield


_GENERATOR = type(_steps())
_CALL_MODULES = ("firmware.core.ocpp_keys", "firmware.core.ocpp_calls", _CALLS)


def _drop_calls():
    for name in _CALL_MODULES + (_MGMT, "firmware.core.smartcharging"):
        if name in sys.modules:
            del sys.modules[name]
            pkg, _, leaf = name.rpartition(".")
            try:
                delattr(sys.modules[pkg], leaf)
            except (KeyError, AttributeError):
                pass


class Link:
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
            calls = _calls()
            await asyncio.sleep_ms(0)  # loaded in a step of its own
            p = calls.boot_payload(self)
            calls = None
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
                if bytes(raw[:3]) == b"[2,":  # a CALL: its modules load a step each
                    for name in _CALL_MODULES:
                        __import__(name)
                        await asyncio.sleep_ms(0)
                try:
                    out = self._frame(raw, ws.too_big)
                    if type(out) is tuple:  # a CALL, parsed: handled in the next steps
                        await asyncio.sleep_ms(0)
                        if not hasattr(_calls(), out[1]):  # a less frequent one
                            __import__(_MGMT)
                            await asyncio.sleep_ms(0)
                        out = self._handle(*out)
                    if type(out) is tuple:  # an answer made in steps
                        out = await self._steps(*out)
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
        """Parse one message: (mid, action, payload) of a CALL for _handle, else the
        answer to send, or None."""
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
        return mid, action, msg[3]

    def _handle(self, mid, action, payload):
        """A CALL's answer, or (mid, action, generator) for one made in steps."""
        try:
            got = _calls().handle(self, action, payload)
        except Exception as e:  # noqa: BLE001 - a bug must not end the connection
            return self._call_error(mid, action, e)
        if type(got) is _GENERATOR:  # a long answer (a list of cards, every key)
            return mid, action, got
        return [3, mid, got]

    async def _steps(self, mid, action, steps):
        """The answer of a handler that yields between pieces of its work, so that no
        CALL holds the event loop for long (the other tasks run between the pieces)."""
        try:
            return [3, mid, await stepwise(steps)]
        except Exception as e:  # noqa: BLE001 - as in _frame
            return self._call_error(mid, action, e)

    def _call_error(self, mid, action, e):
        if isinstance(e, CallError):
            self.note(ERROR, "%.30s refused: %s %s" % (action, e.args[0], e.args[1]))
            return [4, mid, e.args[0], e.args[1], {}]
        self.note(ERROR, "%.30s failed: %r" % (action, e))
        return [4, mid, "InternalError", str(e)[:80], {}]
