"""The MQTT 3.1.1 client on the event loop (docs/mqtt.md), imported by services/mqtt/service.py
once MQTT is switched on.

Why our own client: the published MicroPython clients block on DNS and connect, or
busy-poll the socket, or manage the Wi-Fi themselves (docs/decisions.md). Here the
host name is resolved by websocket.resolve's asynchronous DNS query, and the TCP
connect, the TLS handshake, every read and every write wait in asyncio's poll with a
time limit (websocket.open_stream, shared with the backend). A broker that accepts the
connection and never answers costs a timeout and a reconnect with back-off; charging
never waits for MQTT.

One JSON state message (retained) at the configured interval and at once on a change;
the availability topic with a retained last will; commands on <base>/set/<name>, applied
through App.remote_start/stop/current, the same path as the local JSON API.
"""
import asyncio
import json
from time import ticks_add, ticks_diff, ticks_ms

from micropython import const

from firmware.core import charger as ch
from firmware.core import faults, limits, mqtt
from firmware.core import pilot as cp
from firmware.services.platform.config import load_json, save_json
from firmware.services.platform.log import ERROR, INFO
from firmware.services.net.websocket import close_stream, open_stream

STATE = "mqtt.json"  # the total energy register
_KEEPALIVE_S = const(30)
_IO_MS = const(10000)  # connect, CONNACK, each write
_RESEND_MS = const(10000)  # a QoS 1 message without PUBACK is sent again (DUP)
_PENDING = const(8)  # QoS 1 messages in flight at most
_BACKOFF_MAX_MS = const(60000)
_POLL_MS = const(100)  # how often a change of state is looked for
_SAVE_MS = const(300000)  # the energy register is saved (and published) this often
_BODY_MAX = const(512)  # longer incoming packets are read past and dropped

# Discovery: (component, object id, name, device class, unit, state class, the state's
# key or a template). Tuples, not dicts: the table stays in RAM while MQTT is on.
_M = "measurement"
_ENTITIES = (
    ("sensor", "status", "Status", None, None, None, "status"),
    ("sensor", "fault", "Fault", None, None, None, "{{ value_json.fault_text or 'none' }}"),
    ("sensor", "fault_code", "Fault code", None, None, None, "fault"),
    ("binary_sensor", "vehicle", "Vehicle connected", "plug", None, None,
     "{{ 'ON' if value_json.vehicle else 'OFF' }}"),
    ("sensor", "offered", "Offered current", "current", "A", _M, "offered_a"),
    ("sensor", "limit_by", "Current limited by", None, None, None, "limit_by"),
    ("sensor", "current_l1", "Current L1", "current", "A", _M, "l1_a"),
    ("sensor", "current_l2", "Current L2", "current", "A", _M, "l2_a"),
    ("sensor", "current_l3", "Current L3", "current", "A", _M, "l3_a"),
    ("sensor", "power", "Power", "power", "W", _M, "power_w"),
    # energy in Wh in the state, kWh for the home's energy dashboard
    ("sensor", "session_energy", "Session energy", "energy", "kWh", "total_increasing",
     "{{ value_json.session_wh / 1000 }}"),
    ("sensor", "total_energy", "Total energy", "energy", "kWh", "total_increasing",
     "{{ value_json.total_wh / 1000 }}"),
    ("sensor", "temperature", "Temperature", "temperature", "°C", _M, "temp_c"),
    ("sensor", "voltage", "Mains voltage", "voltage", "V", _M, "mains_v"),
    ("sensor", "card", "Card", None, None, None, "card"),
    ("number", "current", "Session current", None, "A", None,
     "{{ value_json.app_a if value_json.app_a is not none else value_json.max_a }}"),
    ("select", "mode", "Charging mode", None, None, None, "mode"),
    ("button", "start", "Start charging", None, None, None, None),
    ("button", "stop", "Stop charging", None, None, None, None),
)
_COMMANDS = ("current", "mode", "start", "stop")  # the entities with a command topic


class Link:
    def __init__(self, app):
        self.app = app
        self.log = app.log
        self.s = None
        self.connected = False
        self.error = ""  # the last connection problem (logged once until it changes)
        self.published = 0  # state messages sent
        self.pid = 0
        self.pending = {}  # packet id: [packet, sent at] of QoS 1 messages not yet acknowledged
        self._lock = asyncio.Lock()
        self._broken = None  # the reader's reason to end the connection
        self._rx_at = self._tx_at = ticks_ms()
        try:
            st = load_json(STATE, {}, self.log)
        except ValueError:
            st = {}
        self.total_wh = st.get("wh", 0) if isinstance(st, dict) else 0  # never goes back
        self._unsaved_wh = 0
        self._saved_at = ticks_ms()
        se = app.sessions.now
        self._session = se.count
        self._session_wh = se.wh
        self.cfg = None

    # ------------------------------------------------------------ settings
    def _settings(self):
        v = self.app.config.values
        serial = self.app.config.prov.get("serial", "wallbox")
        base = v["mqtt.base"] or "wallbox/" + serial.lower()
        return (v["mqtt.enabled"], v["mqtt.host"], v["mqtt.port"], v["mqtt.tls"],
                v["mqtt.user"], v["mqtt.password"], base, v["mqtt.discovery"],
                v["mqtt.discovery_prefix"], v["mqtt.card"], serial)

    # ------------------------------------------------------------ the link
    async def run(self):
        """Keep connected while MQTT is on; returns once it is switched off."""
        delay = 1000
        while self.app.config.values["mqtt.enabled"]:
            self.cfg = self._settings()
            try:
                await self._connect(self.cfg, "")
                self.error = ""
                self.log.add(INFO, "MQTT: connected to %s:%d" % (self.cfg[1], self.cfg[2]))
                delay = 1000
                await self._serve()
            except Exception as e:  # noqa: BLE001 - any failure: drop the link, try again
                why = self._reason(e)
                if why != self.error:
                    self.log.add(ERROR, "MQTT: " + why)
                self.error = why
            finally:
                self.connected = False
                await self._close()
            t0 = ticks_ms()
            wait = delay + t0 % 1000  # spread the reconnects of many boxes
            while ticks_diff(ticks_ms(), t0) < wait and self._settings() == self.cfg:
                self._count_energy(ticks_ms())  # the register counts while the broker is away
                await asyncio.sleep_ms(250)
            delay = min(delay * 2, _BACKOFF_MAX_MS)

    def _reason(self, e):
        if isinstance(e, asyncio.TimeoutError):
            return "no answer from the broker"
        return str(e) or e.__class__.__name__

    async def probe(self):
        """One connection with the saved settings, as a second client beside the running
        one: None or the reason it failed."""
        t = Link(self.app)
        try:
            await t._connect(t._settings(), "-test", will=False)
            await t._send(mqtt.DISCONNECT_PACKET)
            return None
        except Exception as e:  # noqa: BLE001
            return t._reason(e)
        finally:
            await t._close()

    async def _connect(self, cfg, suffix, will=True):
        _, host, port, tls, user, password, base, _, _, _, serial = cfg
        if not host:
            raise OSError("no broker configured")
        self.s = await open_stream(host, port, tls, timeout_ms=_IO_MS)
        await self._send(mqtt.connect("wallbox-" + serial + suffix, _KEEPALIVE_S, user, password,
                                      base + "/availability" if will else "", b"offline"))
        first, body = await asyncio.wait_for_ms(self._packet(), _IO_MS)
        if first >> 4 != mqtt.CONNACK:
            raise OSError("not an MQTT broker")
        why = mqtt.connack_error(body)
        if why:
            raise OSError("broker refused: " + why)

    async def _close(self):
        s = self.s
        self.s = None
        if s is not None:
            await close_stream(s)

    async def _read(self, n):
        buf = b""
        while len(buf) < n:
            d = await self.s.read(n - len(buf))
            if d is None:  # TLS: a record is not complete yet
                continue
            if not d:
                raise OSError("connection closed by the broker")
            buf += d
        return buf

    async def _packet(self):
        """(first byte, body) of the next packet; bodies over _BODY_MAX come back empty."""
        first = (await self._read(1))[0]
        n = shift = 0
        done = False
        while not done:
            n, shift, done = mqtt.length_step(n, shift, (await self._read(1))[0])
        if n <= _BODY_MAX:
            body = await self._read(n) if n else b""
        else:
            while n:
                n -= len(await self._read(min(n, _BODY_MAX)))
            body = b""
        self._rx_at = ticks_ms()
        return first, body

    async def _send(self, data):
        async with self._lock:
            s = self.s
            if s is None:
                raise OSError("not connected")
            s.write(data)
            await asyncio.wait_for_ms(s.drain(), _IO_MS)
            self._tx_at = ticks_ms()

    async def _publish(self, topic, payload, retain=True, qos=0):
        if qos:
            while len(self.pending) >= _PENDING:  # flow control: wait for PUBACKs
                if self._broken:
                    raise OSError(self._broken)
                await asyncio.sleep_ms(50)
            self.pid = self.pid % 65535 + 1
            p = mqtt.publish(topic, payload, 1, retain, self.pid)
            self.pending[self.pid] = [p, ticks_ms()]
        else:
            p = mqtt.publish(topic, payload, 0, retain)
        await self._send(p)

    async def _reader(self):
        try:
            while True:
                first, body = await self._packet()
                kind = first >> 4
                if kind == mqtt.PUBLISH:
                    topic, payload, qos, pid = mqtt.parse_publish(first & 15, body)
                    if qos == 1:
                        await self._send(mqtt.puback(pid))
                    elif qos:
                        raise ValueError("QoS 2 is not supported")
                    self._command(topic, payload, first & 1)
                elif kind == mqtt.PUBACK:
                    self.pending.pop(mqtt.packet_id(body), None)
        except Exception as e:  # noqa: BLE001 - the link ends; run() reconnects
            self._broken = self._reason(e)

    async def _serve(self):
        cfg = self.cfg
        base = cfg[6]
        self._broken = None
        reader = asyncio.create_task(self._reader())
        try:
            for pid in sorted(self.pending):  # unacknowledged before the drop: again, as DUP
                p = bytearray(self.pending[pid][0])
                p[0] |= 8
                await self._send(p)
            self.pid = self.pid % 65535 + 1
            await self._send(mqtt.subscribe(self.pid, base + "/set/+", 1))
            await self._publish(base + "/availability", "online", qos=1)
            self.connected = True
            if cfg[7]:
                await self._discovery(cfg, False)
            last = None
            sent_at = ticks_ms()
            while True:
                now = ticks_ms()
                if self._broken:
                    raise OSError(self._broken)
                if ticks_diff(now, self._rx_at) > _KEEPALIVE_S * 1500:
                    raise OSError("broker silent for %d s" % (_KEEPALIVE_S * 3 // 2))
                new = self._settings()
                if new != cfg:  # switched off or changed: remove what is ours, then reconnect
                    if cfg[7] and (not new[0] or not new[7] or new[6] != base or new[8] != cfg[8]):
                        await self._discovery(cfg, True)
                    await self._publish(base + "/availability", "offline", qos=1)
                    await self._flush()
                    await self._send(mqtt.DISCONNECT_PACKET)
                    return
                self._count_energy(now)
                key = self._key(cfg)
                if key != last or ticks_diff(now, sent_at) >= \
                        self.app.config.values["mqtt.interval_s"] * 1000:
                    await self._publish(base + "/state", json.dumps(self._state(cfg)))
                    self.published += 1
                    last = key
                    sent_at = now
                elif ticks_diff(now, self._tx_at) >= _KEEPALIVE_S * 500:
                    await self._send(mqtt.PINGREQ_PACKET)
                for pid in list(self.pending):  # QoS 1 without PUBACK: again, as DUP
                    item = self.pending.get(pid)
                    if item is not None and ticks_diff(now, item[1]) >= _RESEND_MS:
                        p = bytearray(item[0])
                        p[0] |= 8
                        item[1] = now
                        await self._send(p)
                await asyncio.sleep_ms(_POLL_MS)
        finally:
            reader.cancel()

    async def _flush(self):
        """Wait (bounded) until the broker acknowledged every QoS 1 message."""
        t0 = ticks_ms()
        while self.pending and not self._broken and ticks_diff(ticks_ms(), t0) < _IO_MS:
            await asyncio.sleep_ms(20)

    # ------------------------------------------------------------ what is published
    def _count_energy(self, now):
        """The total energy register: the sessions' energy, saved to flash before it is
        published, so what the broker saw never goes back, even after a power cut."""
        se = self.app.sessions.now
        if se.count != self._session:
            self._session = se.count
            self._session_wh = 0
        if se.wh > self._session_wh:
            self._unsaved_wh += se.wh - self._session_wh
            self._session_wh = se.wh
        if self._unsaved_wh and (not se.plugged or ticks_diff(now, self._saved_at) >= _SAVE_MS):
            try:
                save_json(STATE, {"wh": self.total_wh + self._unsaved_wh})
            except OSError as e:
                self.log.add(ERROR, "MQTT: energy register not saved: %s" % e)
                self._saved_at = ticks_add(now, 60000 - _SAVE_MS)  # try again in a minute
                return
            self.total_wh += self._unsaved_wh
            self._unsaved_wh = 0
            self._saved_at = now

    def _key(self, cfg):
        """What a change of is published at once (the figures follow at the interval)."""
        a = self.app
        c = a.control.charger
        arb = a.arbiter
        card = (a.sessions.now.card or a.rfid.auth.holder) if cfg[9] else None
        pl = a.planning
        return (c.status(), c.fault, c.pilot.state, c.offered_da, arb.source, arb.limit,
                arb.claims[limits.APP], a.config.values["charging.mode"], self.total_wh, card,
                pl.key())

    def _state(self, cfg):
        a = self.app
        c = a.control.charger
        arb = a.arbiter
        f = c.fault
        amps = a.sessions.currents()
        app_da = arb.claims[limits.APP]
        top = a.max_app_da()
        se = a.sessions.now
        return {
            "status": ch.STATUS_NAMES[c.status()], "fault": f,
            "fault_text": faults.meaning(f) if f else "",
            "vehicle": cp.B <= c.pilot.state <= cp.D,
            "offered_a": c.offered_da / 10, "limit_a": arb.limit / 10,
            "limit_by": limits.NAMES[arb.source], "max_a": top / 10,
            "app_a": None if app_da >= limits.NO_LIMIT else app_da / 10,
            "l1_a": amps[0] / 10, "l2_a": amps[1] / 10, "l3_a": amps[2] / 10,
            "power_w": a.sessions.watts(), "session_wh": se.wh, "total_wh": self.total_wh,
            "temp_c": c.temp_dc / 10, "mains_v": c.mains_dv / 10 if c.mains_dv >= 0 else None,
            "mode": a.config.values["charging.mode"],
            "card": (se.card or a.rfid.auth.holder or "") if cfg[9] else None,
            "plan": a.planning.status(),  # docs/planning.md
        }

    async def _discovery(self, cfg, remove):
        """The discovery records, one retained message per entity; empty ones remove them."""
        base = cfg[6]
        serial = cfg[10]
        node = "".join(c if c.isalpha() or c.isdigit() else "_" for c in serial.lower())
        a = self.app
        device = {"identifiers": [serial], "name": "Wallbox " + serial,
                  "model": "AC wallbox (%s)" % a.board.NAME,
                  "sw_version": a.web.version if a.web is not None else "dev"}
        for comp, oid, name, dev_class, unit, state_class, value in _ENTITIES:
            topic = "%s/%s/%s/%s/config" % (cfg[8], comp, node, oid)
            if remove or (oid == "card" and not cfg[9]):
                await self._publish(topic, b"", qos=1)
                continue
            rec = {"name": name, "unique_id": node + "_" + oid, "object_id": node + "_" + oid,
                   "availability_topic": base + "/availability", "device": device}
            if dev_class:
                rec["device_class"] = dev_class
            if unit:
                rec["unit_of_measurement"] = unit
            if state_class:
                rec["state_class"] = state_class
            if value:
                rec["state_topic"] = base + "/state"
                rec["value_template"] = value if value[0] == "{" else \
                    "{{ value_json.%s }}" % value
            if oid in _COMMANDS:
                rec["command_topic"] = base + "/set/" + oid
            if comp == "button":
                rec["payload_press"] = "PRESS"
            elif comp == "number":
                rec.update(min=6, max=a.max_app_da() / 10, step=0.1, mode="box")
            elif comp == "select":
                rec["options"] = list(mqtt.MODES)
            await self._publish(topic, json.dumps(rec), qos=1)
            rec = None

    # ------------------------------------------------------------ commands
    def _command(self, topic, payload, retained):
        """<base>/set/<name>: applied like the local API's; anything else is logged and
        changes nothing."""
        a = self.app
        name = topic[len(self.cfg[6]) + 5:] if topic.startswith(self.cfg[6] + "/set/") else ""
        why = None
        if retained:  # a stale command kept by the broker: never act on it at connect
            why = "retained"
        elif name == "start" or name == "stop":
            if not mqtt.press(payload):
                why = "bad payload"
            elif name == "start":
                a.remote_start("MQTT")
            else:
                a.remote_stop("MQTT")
        elif name == "current":
            da = mqtt.amps_da(payload, a.max_app_da())
            if da is None:
                why = "not 6 to %d.%d A" % (a.max_app_da() // 10, a.max_app_da() % 10)
            elif not a.remote_current(da, "MQTT"):
                why = "no vehicle connected"
        elif name == "plan":  # {"mode", "departure", "energy_kwh", "km"}: docs/planning.md
            try:
                a.planning.request(json.loads(bytes(payload)), "MQTT")
            except ValueError as e:
                why = e.args[-1] if e.args else "not JSON"
        elif name == "mode":
            m = mqtt.mode(payload)
            errors = {"": "bad payload"} if m is None else \
                a.config.update({"charging.mode": m})
            if errors:
                why = errors.popitem()[1]
            else:
                self.log.add(INFO, "MQTT: charging mode " + m)
        else:
            why = "unknown command"
        if why:
            self.log.add(INFO, "MQTT: ignored %s %r: %s" % (topic[-40:], bytes(payload[:24]), why))
