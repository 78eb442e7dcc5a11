"""A central system (OCPP 1.6J) for tests and the fleet tool, built on the `ocpp`
package with schema validation on and `websockets` as the server.

It runs its own asyncio loop in a thread, so synchronous tests can drive it:

    cs = CentralSystem().start()            # ws://127.0.0.1:<cs.port>/<id>
    cs.wait_for(lambda cs: cs.calls("CP1", "BootNotification"))
    cs.call("CP1", call.RemoteStartTransaction(id_tag="TAG1"))
    cs.stop()

Every frame in either direction is recorded raw per charge point (`frames`), every
CALL from a charge point with its camelCase payload (`calls`). Answers follow
attributes a test may change: `boot_status`, `heartbeat_s`, `tags` (idTag -> status,
unknown tags get `unknown_tag`), `answer_calls` (False: never answer the charge point).
`auth` ({id: password}) turns on HTTP Basic authentication, `ssl` serves wss://.
`send_raw()` sends any text, for bad-input tests.
"""
import asyncio
import json
import logging
import threading
import time
from datetime import datetime, timezone

from ocpp.routing import on
from ocpp.v16 import ChargePoint
from ocpp.v16 import call_result
from ocpp.v16.enums import Action
from websockets.asyncio.server import basic_auth, serve

logging.getLogger("ocpp").setLevel(logging.CRITICAL)
logging.getLogger("websockets").setLevel(logging.CRITICAL)


def utc_now():
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


# Frames nested deeper than this are not parsed: CPython's json would recurse to the
# interpreter's limit, and a garbage collection that runs a finalizer down there fails
# it (seen on a busy host: unraisable RecursionErrors failing a bad-input test).
_MAX_DEPTH = 64


def nesting(text):
    """The deepest nesting of [ and { in a JSON text (outside strings)."""
    depth = deepest = 0
    in_string = escaped = False
    for c in text:
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}":
            depth -= 1
    return deepest


class _Recorder:
    """The websockets connection as the ocpp package sees it, recording every frame."""

    def __init__(self, ws, station):
        self.ws = ws
        self.station = station

    async def recv(self):
        while True:
            text = await self.ws.recv()
            self.station._record("in", text)
            try:
                msg = json.loads(text)
            except ValueError:
                continue  # the package would only log it
            if isinstance(msg, list) and msg and msg[0] == 2 and \
                    not self.station.cs.answer_calls:
                continue  # a central system that never answers
            return text

    async def send(self, text):
        self.station._record("out", text)
        await self.ws.send(text)


class Station(ChargePoint):
    """One connected charge point as the central system sees it."""

    def __init__(self, cp_id, ws, cs):
        self.cs = cs
        self.frames = []  # (monotonic s, "in"/"out", text)
        super().__init__(cp_id, _Recorder(ws, self), response_timeout=15)
        self.ws = ws

    def _record(self, way, text):
        with self.cs.lock:
            self.frames.append((time.monotonic(), way, text))
            self.cs.changed.notify_all()

    def _tag(self, tag):
        return {"status": self.cs.tags.get(tag, self.cs.unknown_tag)}

    @on(Action.boot_notification)
    def on_boot(self, **_):
        return call_result.BootNotification(current_time=utc_now(),
                                            interval=self.cs.heartbeat_s,
                                            status=self.cs.boot_status)

    @on(Action.heartbeat)
    def on_heartbeat(self):
        return call_result.Heartbeat(current_time=utc_now())

    @on(Action.status_notification)
    def on_status(self, **_):
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, id_tag):
        return call_result.Authorize(id_tag_info=self._tag(id_tag))

    @on(Action.start_transaction)
    def on_start(self, id_tag, **_):
        with self.cs.lock:
            self.cs.next_tx += 1
            tx = self.cs.next_tx
        return call_result.StartTransaction(transaction_id=tx, id_tag_info=self._tag(id_tag))

    @on(Action.stop_transaction)
    def on_stop(self, **_):
        return call_result.StopTransaction()

    @on(Action.meter_values)
    def on_meter_values(self, **_):
        return call_result.MeterValues()

    @on(Action.data_transfer)
    def on_data_transfer(self, **_):
        return call_result.DataTransfer(status="Accepted")

    @on(Action.firmware_status_notification)
    def on_firmware_status(self, **_):
        return call_result.FirmwareStatusNotification()

    @on(Action.diagnostics_status_notification)
    def on_diagnostics_status(self, **_):
        return call_result.DiagnosticsStatusNotification()


class CentralSystem:
    def __init__(self, host="127.0.0.1", port=0, auth=None, ssl=None):
        self.host = host
        self.port = port
        self.auth = auth
        self.ssl = ssl
        self.boot_status = "Accepted"
        self.heartbeat_s = 300
        self.tags = {}
        self.unknown_tag = "Accepted"
        self.answer_calls = True
        self.next_tx = 1000
        self.stations = {}  # id -> the Station of its latest connection
        self.history = {}  # id -> frames of earlier connections
        self.connects = {}  # id -> number of connections
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.loop = None
        self._server = None
        self._thread = None
        self._stopped = None

    # ------------------------------------------------------------------- server
    async def _handler(self, ws):
        cp_id = ws.request.path.rstrip("/").rsplit("/", 1)[-1]
        st = Station(cp_id, ws, self)
        with self.lock:
            old = self.stations.get(cp_id)
            if old is not None:
                self.history.setdefault(cp_id, []).extend(old.frames)
            self.stations[cp_id] = st
            self.connects[cp_id] = self.connects.get(cp_id, 0) + 1
            self.changed.notify_all()
        try:
            await st.start()
        except Exception:  # noqa: BLE001 - the charge point went away
            pass
        finally:
            with self.lock:
                self.changed.notify_all()

    async def _main(self, ready):
        kw = {"subprotocols": ["ocpp1.6"], "ssl": self.ssl, "max_size": 2 ** 20,
              "ping_interval": None}
        if self.auth:
            kw["process_request"] = basic_auth(realm="ocpp", credentials=list(self.auth.items()))
        self._stopped = asyncio.Event()
        async with serve(self._handler, self.host, self.port, **kw) as server:
            self._server = server
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            await self._stopped.wait()
            server.close()

    def start(self):
        ready = threading.Event()
        self.loop = asyncio.new_event_loop()

        def run():
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(self._main(ready))

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("central system did not start")
        return self

    def stop(self):
        """Stop serving and drop every connection (the port can be served again)."""
        if self.loop is None:
            return
        self.loop.call_soon_threadsafe(self._stopped.set)
        self._thread.join(60)  # the close frames are out once it ends: a busy host is slow
        if self._thread.is_alive():
            raise RuntimeError("central system did not stop")
        self.loop = None

    def url(self, scheme="ws"):
        return "%s://%s:%d/ocpp" % (scheme, self.host, self.port)

    # ------------------------------------------------------------------ driving
    def _run(self, coro, timeout):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, cp_id, payload, timeout=20):
        """Send a CALL (an ocpp.v16.call object); returns the validated result object.
        A CALLERROR raises the matching ocpp.exceptions error."""
        st = self.stations[cp_id]
        return self._run(st.call(payload, suppress=False), timeout)

    def send_raw(self, cp_id, text):
        st = self.stations[cp_id]
        st._record("out", text)
        self._run(st.ws.send(text), 10)

    def drop(self, cp_id):
        """Close one charge point's connection."""
        self._run(self.stations[cp_id].ws.close(), 10)

    def cut_mid_frame(self, cp_id):
        """Start a 1000-byte text frame, send 10 bytes of it and close the TCP connection."""
        ws = self.stations[cp_id].ws

        async def cut():
            ws.transport.write(b"\x81\x7e\x03\xe8" + b"[2,\"cut\",")
            ws.transport.close()
        self._run(cut(), 10)

    # ---------------------------------------------------------------- observing
    def frames(self, cp_id, way=None, every=True):
        """Raw frames of a charge point (this and, with every, earlier connections)."""
        with self.lock:
            st = self.stations.get(cp_id)
            out = list(self.history.get(cp_id, ())) if every else []
            out += st.frames if st is not None else []
        return [f for f in out if way is None or f[1] == way]

    def messages(self, cp_id, way="in"):
        """The frames that are JSON (and nested no deeper than any OCPP message), parsed."""
        out = []
        for _, _, text in self.frames(cp_id, way):
            if text.count("[") + text.count("{") > _MAX_DEPTH and nesting(text) > _MAX_DEPTH:
                continue  # a bad-input test's nesting: not parsed (see _MAX_DEPTH)
            try:
                out.append(json.loads(text))
            except ValueError:
                pass
        return out

    def calls(self, cp_id, action=None):
        """Payloads of the CALLs a charge point sent, oldest first."""
        return [m[3] for m in self.messages(cp_id) if isinstance(m, list) and len(m) == 4
                and m[0] == 2 and (action is None or m[2] == action)]

    def actions(self, cp_id):
        return [m[2] for m in self.messages(cp_id) if isinstance(m, list) and len(m) == 4
                and m[0] == 2]

    def errors(self, cp_id):
        """CALLERRORs the central system sent: the charge point's messages it refused."""
        return [m for m in self.messages(cp_id, "out") if isinstance(m, list) and m[0] == 4]

    def replies(self, cp_id, mid):
        """The charge point's answers to the CALL with unique id `mid`."""
        return [m for m in self.messages(cp_id) if isinstance(m, list) and
                m[0] in (3, 4) and m[1] == mid]

    def connected(self, cp_id):
        st = self.stations.get(cp_id)
        return st is not None and st.ws.state.name == "OPEN"

    def wait_for(self, pred, timeout=20.0):
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                got = pred(self)
                if got:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("central system: condition not met within %.0f s" % timeout)
                self.changed.wait(min(left, 0.2))
