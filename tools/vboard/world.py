"""The simulated world around the virtual board: car, mains, relay, sensors, buttons.

Runs in CPython. It starts the unchanged firmware in the MicroPython VM, drives the
virtual board's pins over a TCP link (see vm/vlink.py) and watches its outputs. The
physics is deliberately simple but electrically honest where the firmware decides:
pilot plateaus from the car's state and diode, the car drawing what the duty offers,
the relay's output side, the residual-current detector and its test input. The relay
closes only while the coil pin is high and the keep-alive monostable (modelled on the
VM side, machine.py) holds; `stall(ms)` blocks the VM's interpreter in one call into C.
"""
import json
import math
import os
import socket
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
VMDIR = os.path.join(HERE, "vm")
sys.path.insert(0, VMDIR)
sys.path.insert(0, os.path.join(ROOT, "host_tests", "shim"))
import vlink  # noqa: E402

sys.path.insert(0, ROOT)
from firmware.boards import virtual as board  # noqa: E402
from firmware.core import charger as ch  # noqa: E402
from firmware.core import faults, limits  # noqa: E402

LED_NAMES = ("S1", "S2", "S3", "S4", "online", "mode", "rfid", "frame", "touch")
PALETTE = {"red": (1, 0, 0), "green": (0, 1, 0), "blue": (0, 0, 1), "white": (1, 1, 1),
           "orange": (1, 96 / 255, 0)}

# Inputs a user or a test may set, with their type and allowed range.
INPUTS = {
    "plugged": (bool, None), "car_state": (str, ("B", "C", "D")), "diode": (bool, None),
    "pilot_short": (bool, None), "car_max_a": (float, (0, 80)), "car_phases": (int, (1, 3)),
    "overdraw_a": (float, (0, 80)), "sleeping": (bool, None), "stubborn": (bool, None),
    "mains_v": (float, (0, 400)), "pe_ok": (bool, None), "temp_c": (float, (-40, 150)),
    "residual_ma": (float, (0, 1000)), "rcd_healthy": (bool, None),
    "relay_welded": (bool, None), "relay_dead": (bool, None), "dip": (int, (0, 15)),
    "service_button": (bool, None), "touch_button": (bool, None),
    "pilot_noise_mv": (int, (0, 2000)),
    # energy meters (tools/vboard/meters.py): house load per phase, solar production
    "house_l1_a": (float, (0, 400)), "house_l2_a": (float, (0, 400)),
    "house_l3_a": (float, (0, 400)), "solar_w": (float, (0, 100000)),
    "meter_mode": (str, ("ok", "off", "silent")),
    "solar_meter_mode": (str, ("ok", "off", "silent")),
}


def find_micropython():
    exe = os.path.join(os.path.dirname(sys.executable), "micropython")
    return exe if os.path.exists(exe) else "micropython"


_READ = """import json
from firmware.services.platform import config
try:
    obj = config.load_json(%r, None)
    print(json.dumps({"ok": config._migrate(obj or {}) if %r else obj}))
except ValueError as e:
    print(json.dumps({"error": str(e)}))
"""


def read_flash(state_dir, name, settings=False):
    """A record on the board's flash as the firmware reads it: its own reader
    (services/platform/config.load_json: the checksummed record, else the .bak copy, or plain
    JSON) run in the VM. `settings`: config.json's settings as {key: value}, migrated
    as the firmware does. None when the file is missing; ValueError when it is corrupt."""
    env = dict(os.environ, MICROPYPATH=ROOT + ":.frozen")
    env.pop("VBOARD_LINK", None)
    out = subprocess.run([find_micropython(), "-c", _READ % (name, settings)], cwd=state_dir,
                         env=env, capture_output=True, text=True, timeout=60)
    if out.returncode:
        raise RuntimeError("reading %s in the VM failed:\n%s" % (name, out.stdout + out.stderr))
    got = json.loads(out.stdout.strip().splitlines()[-1])
    if "error" in got:
        raise ValueError(got["error"])
    return got["ok"]


_frozen = {}  # VM path -> None if the firmware is frozen into it, else why not


def why_not_frozen(exe):
    """None if the VM binary `exe` has the firmware frozen in, else the reason."""
    exe = os.path.abspath(exe)
    if exe not in _frozen:
        if not os.access(exe, os.X_OK):
            _frozen[exe] = "no VM at %s (set WALLBOX_VM; docs/hardware.md builds it)" % exe
        else:  # run where no firmware folder can shadow the frozen one
            out = subprocess.run([exe, "-c", "import firmware.core.ticks"], cwd=VMDIR,
                                 env=dict(os.environ, MICROPYPATH=".frozen"),
                                 capture_output=True, text=True)
            _frozen[exe] = None if out.returncode == 0 else \
                "%s has no frozen firmware: %s" % (exe, (out.stdout + out.stderr).strip())
    return _frozen[exe]


def frozen_vm():
    """The 32-bit VM with the firmware frozen in: $WALLBOX_VM, else build/unix32/micropython.
    Returns (path, None), or (None, the reason it cannot be used)."""
    exe = os.getenv("WALLBOX_VM") or os.path.join(ROOT, "build", "unix32", "micropython")
    exe = os.path.abspath(exe)
    why = why_not_frozen(exe)
    return (None, why) if why else (exe, None)


def _compiled_libs():
    """The libraries (microdot) compiled for the VM when the firmware runs from source:
    microdot from source would need the compiler's RAM on top (~160 KB)."""
    import fcntl
    from tools.build import ROOT as _root, build_libs
    out = os.path.join(_root, "build", "vm-libs")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out + ".lock", "w") as lock:  # parallel test workers: one builds, by rename
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.isdir(os.path.join(out, "lib")):
            tmp = "%s.tmp%d" % (out, os.getpid())
            build_libs(tmp)
            if os.path.exists(out):  # a broken one (no lib/)
                import shutil
                shutil.rmtree(out)
            os.rename(tmp, out)
    return os.path.join(out, "lib")


def classify_rgb(rgb):
    r, g, b = rgb
    top = max(rgb)
    if top == 0:
        return "off"
    n = (r / top, g / top, b / top)
    return min(PALETTE, key=lambda k: sum((a - c) ** 2 for a, c in zip(PALETTE[k], n)))


class World:
    """The world of one virtual board. Thread-safe: tests and the web API call set()."""

    last_sim_heap = None  # sim_heap of the latest VM of any world (tools/bench)

    def __init__(self, state_dir, heap="256k", code_root=ROOT, tick_s=0.002, echo=False,
                 extra_env=None, vm_dir=VMDIR, entry="vboard_main", web_port=None, vm=None):
        self.state_dir = state_dir
        # The firmware's web interface on 127.0.0.1: None = none on this board (it costs
        # the VM RAM and boot time), 0 = on a free port, else that port
        self.web_port = web_port
        os.makedirs(state_dir, exist_ok=True)
        self.heap = heap
        self.code_root = os.path.abspath(code_root)
        self.vm_dir = os.path.abspath(vm_dir)  # the virtual hardware (source or .mpy)
        self.entry = entry  # the VM's entry module (romfs_main: run from a ROMFS image)
        # the VM binary; one from frozen_vm() runs its frozen firmware, not code_root's
        self.vm = vm or find_micropython()
        self.frozen = vm is not None and why_not_frozen(vm) is None
        self.tick_s = tick_s
        self.echo = echo
        self.extra_env = dict(extra_env or {})
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.inputs = {"plugged": False, "car_state": "C", "diode": True, "pilot_short": False,
                       "car_max_a": 32.0, "car_phases": 3, "overdraw_a": 0.0,
                       "sleeping": False, "stubborn": False, "mains_v": 230.0, "pe_ok": True,
                       "temp_c": 25.0, "residual_ma": 0.0, "rcd_healthy": True,
                       "relay_welded": False, "relay_dead": False, "dip": 8,
                       "service_button": False, "touch_button": False, "pilot_noise_mv": 0}
        self.inputs.update(house_l1_a=0.0, house_l2_a=0.0, house_l3_a=0.0, solar_w=0.0,
                           meter_mode="ok", solar_meter_mode="ok")
        self.meters = None  # simulated energy meters (tools/vboard/meters.py)
        self.pins = {}  # output pin levels from the VM
        self.duty = {}  # PWM duty_u16 per pin
        self.freq = {}
        self.leds = [(0, 0, 0)] * board.LED_COUNT
        self.telemetry = [None] * vlink.T_KEYS
        self.console = []  # last lines the VM printed
        self.sim_heap = None  # bytes the virtual board itself holds in the VM's heap
        self.events = []  # (monotonic s, what) of output changes, for tests and the bench
        self.boots = 0
        self.resets = []  # reset causes reported by the firmware
        self.running = False
        self._car_c_since = None  # when the car (stubborn or not) last saw PWM stop
        self._presses = []  # (button, release time)
        self._sent = {}
        self._conn = None
        self._proc = None
        self._server = None
        self._stop = threading.Event()
        self._threads = []
        self._woken = False
        self._reset_to = None  # reset cause of a restart the world forces (kill + boot)
        self._last_f = False
        self.rcd_test_since = None
        self.relay_opens = 0  # the contacts opened (any cause), for the bench
        self.keepalive_drops = 0  # the keep-alive monostable dropped the closed coil
        # flash operations (vlink.FLASH_*) counted as [relay open, relay closed]
        self.flash_ops = {vlink.FLASH_FILE: [0, 0], vlink.FLASH_ERASE: [0, 0],
                          vlink.FLASH_PROGRAM: [0, 0], vlink.FLASH_OVERWRITE: [0, 0]}
        # RFID: cards in the reader's field (two slots: both filled = a collision)
        self.card_field = [None, None]  # UID hex per slot
        self.rfid_noise = "none"
        self.rfid_reader = "ok"
        self.rfid = [None] * vlink.R_KEYS  # the firmware's side, from RFID_TELE records
        self._card_serial = 0
        self._card_off = []  # (slot, serial, when) a tapped card leaves the field
        self._rfid_t = {}  # link records describing the field, merged into _targets()

    # ------------------------------------------------------------------ control
    def set(self, **kw):
        """Change inputs; returns the monotonic time they take effect."""
        with self.lock:
            for k, v in kw.items():
                if k not in INPUTS:
                    raise KeyError("unknown input %r" % k)
                typ, rng = INPUTS[k]
                if typ is bool and not isinstance(v, bool):
                    raise ValueError("%s must be true or false" % k)
                if typ in (int, float):
                    if isinstance(v, bool) or not isinstance(v, (int, float)):
                        raise ValueError("%s must be a number" % k)
                    v = typ(v)
                    if not rng[0] <= v <= rng[1]:
                        raise ValueError("%s must be between %s and %s" % (k, rng[0], rng[1]))
                if typ is str and v not in rng:
                    raise ValueError("%s must be one of %s" % (k, ", ".join(rng)))
                self.inputs[k] = v
                if k == "plugged" and v:
                    self._woken = False
            self._update_pins()
            return time.monotonic()

    def set_network(self, index, up):
        """Switch the simulated Wi-Fi network `index` (of VBOARD_NETWORKS) on or off."""
        with self.lock:
            self._write(vlink.NET_UP, index, 1 if up else 0)

    def press(self, button, ms):
        if button not in ("service", "touch"):
            raise KeyError("unknown button %r" % button)
        if not 0 < ms <= 60000:
            raise ValueError("ms must be between 1 and 60000")
        with self.lock:
            self.inputs[button + "_button"] = True
            self._presses.append((button, time.monotonic() + ms / 1000))
            self._update_pins()

    # ------------------------------------------------------------------ RFID
    RFID_NOISE = {"none": vlink.NOISE_NONE, "crc": vlink.NOISE_CRC,
                  "partial": vlink.NOISE_PARTIAL}
    RFID_READER = {"ok": vlink.READER_OK, "dead": vlink.READER_DEAD,
                   "garbage": vlink.READER_GARBAGE}

    @staticmethod
    def _uid(uid):
        if not isinstance(uid, str) or len(uid) not in (8, 14, 20):
            raise ValueError("uid must be 4, 7 or 10 bytes in hex")
        try:
            return bytes.fromhex(uid).hex().upper()
        except ValueError:
            raise ValueError("uid must be 4, 7 or 10 bytes in hex") from None

    def _field(self, slot, uid, update=True):
        """Put a card (UID hex, or None) into a slot of the reader's field."""
        self.card_field[slot] = uid
        self._card_serial += 1
        raw = bytes.fromhex(uid) if uid else b""
        for i, b in enumerate(raw):
            self._rfid_t[(vlink.CARD_BYTE, slot * 16 + i)] = b
        self._rfid_t.pop((vlink.CARD_SET, slot), None)  # after the bytes, in dict order
        self._rfid_t[(vlink.CARD_SET, slot)] = len(raw) | self._card_serial << 8
        if update:
            self._update_pins()

    def present_card(self, uid, slot=0):
        """Hold a card (4, 7 or 10 bytes of hex) in front of the reader until removed."""
        uid = self._uid(uid)
        if slot not in (0, 1):
            raise ValueError("slot must be 0 or 1")
        with self.lock:
            self._card_off = [c for c in self._card_off if c[0] != slot]
            self._field(slot, uid)

    def remove_card(self, slot=None):
        """Take the card in `slot` (None: every card) away from the reader."""
        with self.lock:
            for s in (0, 1) if slot is None else (slot,):
                if self.card_field[s] is not None:
                    self._field(s, None)

    def tap_card(self, uid, ms=600):
        """Hold a card in front of the reader for `ms`, then take it away."""
        if not 0 < ms <= 600000:
            raise ValueError("ms must be between 1 and 600000")
        self.present_card(uid)
        with self.lock:
            self._card_off.append((0, self._card_serial, time.monotonic() + ms / 1000))

    def collide(self, uid_a, uid_b):
        """Two cards in the field at once (entering together, in one burst of records)."""
        uid_a, uid_b = self._uid(uid_a), self._uid(uid_b)
        with self.lock:
            self._card_off = []
            self._field(0, uid_a, False)
            self._field(1, uid_b)

    def set_rfid(self, noise=None, reader=None):
        """Disturbances: noise 'none' / 'crc' (bad BCC and CRC) / 'partial' (frames cut
        short); reader 'ok' / 'dead' (MISO reads 0) / 'garbage' (random MISO)."""
        if noise is not None and noise not in self.RFID_NOISE:
            raise ValueError("noise must be one of " + ", ".join(self.RFID_NOISE))
        if reader is not None and reader not in self.RFID_READER:
            raise ValueError("reader must be one of " + ", ".join(self.RFID_READER))
        with self.lock:
            if noise is not None:
                self.rfid_noise = noise
                self._rfid_t[(vlink.RFID_NOISE, 0)] = self.RFID_NOISE[noise]
            if reader is not None:
                self.rfid_reader = reader
                self._rfid_t[(vlink.RFID_READER, 0)] = self.RFID_READER[reader]
            self._update_pins()

    def brownout_reader(self):
        """The reader chip resets itself (registers back to their reset values)."""
        with self.lock:
            if self._conn is not None:
                self._write(vlink.RFID_BROWNOUT, 0, 0)

    def rfid_action(self, action, uid=None, uid2=None, ms=600, slot=None, noise=None,
                    reader=None):
        """The API's one entry point: tap, present, remove, collide, disturb, brownout."""
        if action == "tap":
            self.tap_card(uid, int(ms))
        elif action == "present":
            self.present_card(uid, slot or 0)
        elif action == "remove":
            self.remove_card(slot)
        elif action == "collide":
            self.collide(uid, uid2)
        elif action == "disturb":
            self.set_rfid(noise, reader)
        elif action == "brownout":
            self.brownout_reader()
        else:
            raise ValueError("action must be tap, present, remove, collide, disturb or brownout")

    # ------------------------------------------------------------------ physics
    def pwm_duty_bp(self):
        """The pilot generator's duty in 0.01 % (10000 = constant +12 V)."""
        d = self.duty.get(board.CP_PWM, 65535)
        return d * 10000 // 65535 if d < 65535 else 10000

    def offering(self):
        bp = self.pwm_duty_bp()
        return 800 <= bp <= 9700

    def relay_closed(self):
        """The contacts: the coil pin high and the keep-alive monostable holding."""
        return self.pins.get(board.RELAY, 0) == 1 and self.keepalive()

    def keepalive(self):
        """The keep-alive monostable's output: pulses came within its drop-out time."""
        return self.pins.get(board.RELAY_KEEPALIVE, 0) == 1

    def flash_counts(self, closed):
        """Flash operations so far with the relay open (False) or closed (True):
        {"file": file system writes, "erase": journal blocks erased, "program": journal
        pages programmed, "overwrite": pages programmed over unerased bits}."""
        k = 1 if closed else 0
        with self.lock:
            f = self.flash_ops
            return {"file": f[vlink.FLASH_FILE][k], "erase": f[vlink.FLASH_ERASE][k],
                    "program": f[vlink.FLASH_PROGRAM][k],
                    "overwrite": f[vlink.FLASH_OVERWRITE][k]}

    def stall(self, ms):
        """Block the VM's interpreter in one call into C for `ms` (a TLS handshake step,
        a flash erase on a board): soft callbacks, the control tick too, wait; hard IRQs
        run. The VM reports its start and end as "stall_at" events (1, 0)."""
        with self.lock:
            self._write(vlink.STALL, 0, int(ms))

    def output_live(self):
        i = self.inputs
        contacts = (self.relay_closed() and not i["relay_dead"]) or i["relay_welded"]
        return contacts and i["mains_v"] > 20

    def car_pilot_state(self):
        """What the car presents: 'A' (none) .. 'D', or 'E' (pilot shorted)."""
        i = self.inputs
        if i["pilot_short"]:
            return "E"
        if not i["plugged"]:
            return "A"
        want = i["car_state"]
        if want == "B" or i["sleeping"] and not self._woken:
            return "B"
        if self.offering():
            self._car_c_since = None
            return want
        # PWM stopped: the car follows within 0.3 s, a stubborn one never does
        if i["stubborn"] and self.relay_closed():
            return want
        now = time.monotonic()
        if self._car_c_since is None:
            self._car_c_since = now
        return want if now - self._car_c_since < 0.3 and self.relay_closed() else "B"

    def car_current_a(self):
        i = self.inputs
        if not (self.output_live() and self.car_pilot_state() in ("C", "D")):
            return 0.0
        from firmware.core.pilot import da_from_duty
        offered = da_from_duty(self.pwm_duty_bp()) / 10
        if offered == 0 and not i["stubborn"]:
            return 0.0
        return min(offered or i["car_max_a"], i["car_max_a"]) + i["overdraw_a"]

    def pilot_plateaus_mv(self):
        s = self.car_pilot_state()
        high = {"A": 12000, "B": 9000, "C": 6000, "D": 3000, "E": 0}[s]
        if s == "E":
            low = 0
        elif s == "A" or self.inputs["diode"]:
            low = -12000
        else:
            low = -high  # resistive load: the low plateau mirrors the high one
        return high, low

    @staticmethod
    def mv_to_raw(mv):
        raw = board.CP_ZERO_RAW + mv * board.CP_MV_DEN // board.CP_MV_NUM
        return max(0, min(65535, raw))

    @staticmethod
    def ntc_raw(temp_c):
        r = board.NTC_R25 * math.exp(board.NTC_BETA * (1 / (temp_c + 273.15) - 1 / 298.15))
        return int(65535 * r / (r + board.NTC_PULLUP))

    def _targets(self):
        """Every input pin's value for the current world state: {(op, pin): value}."""
        i = self.inputs
        t = {}
        high, low = self.pilot_plateaus_mv()
        noise = i["pilot_noise_mv"]
        if noise:
            import random
            high += random.randint(-noise, noise)
            low += random.randint(-noise, noise)
        t[(vlink.SET_IN, board.CP_ADC)] = self.mv_to_raw(high)
        t[(vlink.SET_ALT, board.CP_ADC)] = self.mv_to_raw(low)
        t[(vlink.SET_IN, board.RELAY_SENSE)] = 0 if self.output_live() else 1
        # the pilot comparator: high plateau above the C/B threshold (A or B), PWM running
        pwm = self.duty.get(board.CP_PWM, 65535) > 0
        t[(vlink.SET_IN, board.CP_COMPARATOR)] = 1 if pwm and high > 7500 else 0
        rcd_test = self.pins.get(board.RCD_TEST, 0) == 1
        now = time.monotonic()
        if rcd_test and self.rcd_test_since is None:
            self.rcd_test_since = now
        elif not rcd_test:
            self.rcd_test_since = None
        test_trip = (rcd_test and i["rcd_healthy"] and now - self.rcd_test_since > 0.03)
        t[(vlink.SET_IN, board.RCD_TRIP)] = 1 if (i["residual_ma"] >= 6 or test_trip) else 0
        t[(vlink.SET_IN, board.PE_OK)] = 0 if i["pe_ok"] else 1
        t[(vlink.SET_IN, board.NTC_ADC)] = self.ntc_raw(i["temp_c"])
        t[(vlink.SET_IN, board.MAINS_ADC)] = min(65535, int(i["mains_v"] * 10 * board.MAINS_DV_DEN
                                                        // board.MAINS_DV_NUM))
        amps = self.car_current_a()
        for n, pin in enumerate(board.CT_ADC):
            a = amps if n < i["car_phases"] else 0.0
            t[(vlink.SET_IN, pin)] = min(65535, int(a * 10 * board.CT_DA_DEN // board.CT_DA_NUM))
        t[(vlink.SET_IN, board.SERVICE_BUTTON)] = 0 if i["service_button"] else 1
        t[(vlink.SET_IN, board.TOUCH_BUTTON)] = 0 if i["touch_button"] else 1
        for bit, pin in enumerate(board.DIP_PINS):
            t[(vlink.SET_IN, pin)] = 0 if i["dip"] >> bit & 1 else 1
        t.update(self._rfid_t)  # the reader's card field (rc522_sim)
        return t

    def _update_pins(self):
        if self._conn is None:
            return
        # A sleeping car wakes when it sees state F (the wake-up pulse).
        f_now = self.duty.get(board.CP_PWM, 65535) == 0
        if f_now and not self._last_f and self.inputs["plugged"]:
            self._woken = True
        self._last_f = f_now
        for key, value in self._targets().items():
            if self._sent.get(key) != value:
                self._sent[key] = value
                self._write(key[0], key[1], value)

    def _write(self, op, ident, value):
        try:
            self._conn.sendall(struct.pack(vlink.FMT, op, ident, value))
        except OSError:
            pass

    # ------------------------------------------------------------------ VM side
    def _on_record(self, op, ident, value):
        now = time.monotonic()
        with self.lock:
            if op == vlink.OUT_PIN:
                if self.pins.get(ident) != value:
                    was = self.relay_closed()
                    if ident == board.RELAY_KEEPALIVE and not value and \
                            self.pins.get(board.RELAY, 0) == 1:
                        self.keepalive_drops += 1
                    self.pins[ident] = value
                    self.relay_opens += was and not self.relay_closed()
                    self.events.append((now, "pin", ident, value))
            elif op == vlink.PWM_DUTY:
                self.duty[ident] = value
                self.events.append((now, "duty", ident, value))
            elif op == vlink.PWM_FREQ:
                self.freq[ident] = value
                self.events.append((now, "freq", ident, value))
            elif op == vlink.RFID_TELE:
                if ident < vlink.R_KEYS:
                    self.rfid[ident] = value
            elif op == vlink.NEO:
                if ident < len(self.leds):
                    self.leds[ident] = ((value >> 16) & 255, (value >> 8) & 255, value & 255)
            elif op == vlink.TELEMETRY:
                if ident < vlink.T_KEYS:
                    self.telemetry[ident] = value
            elif op == vlink.RESET:
                self.resets.append(value)
                if value == vlink.WDT_RESET:  # the chip resets whatever the CPU does
                    self.console.append("virtual board: watchdog expired, resetting")
                    self._reset_to = value
                    proc = self._proc
                    if proc is not None:
                        proc.kill()
            elif op == vlink.FLASH:
                if ident in self.flash_ops:
                    self.flash_ops[ident][1 if self.relay_closed() else 0] += 1
            elif op == vlink.HELLO:
                self.boots += 1
            elif op in (vlink.IN_AT, vlink.OUT_AT, vlink.STALL_AT):
                self.events.append((now, {vlink.IN_AT: "in_at", vlink.OUT_AT: "out_at",
                                          vlink.STALL_AT: "stall_at"}[op], ident, value))
            if len(self.events) > 5000:
                del self.events[:1000]
            self._update_pins()
            self.changed.notify_all()

    def _reader(self, conn):
        buf = b""
        while not self._stop.is_set():
            try:
                data = conn.recv(4096)
            except OSError:
                break
            if not data:
                break
            buf += data
            n = len(buf) // vlink.RECORD * vlink.RECORD
            for k in range(0, n, vlink.RECORD):
                self._on_record(*struct.unpack_from(vlink.FMT, buf, k))
            buf = buf[n:]

    def _physics(self):
        while not self._stop.is_set():
            now = time.monotonic()
            with self.lock:
                for rec in [p for p in self._presses if p[1] <= now]:
                    self._presses.remove(rec)
                    self.inputs[rec[0] + "_button"] = False
                for rec in [c for c in self._card_off if c[2] <= now]:
                    self._card_off.remove(rec)
                    self._field(rec[0], None)
                self._update_pins()
            time.sleep(self.tick_s)

    def _console(self, proc):
        for line in proc.stdout:
            line = line.rstrip("\n")
            if line.startswith("vboard: simulation heap "):
                self.sim_heap = World.last_sim_heap = int(line.split()[3])
            with self.lock:
                self.console.append(line)
                if len(self.console) > 500:
                    del self.console[:100]
            if self.echo:
                print("vm|", line, flush=True)

    def vm_command(self):
        return [self.vm, "-X", "heapsize=" + self.heap, "-c", "import " + self.entry]

    def _boot(self, reset_cause):
        """Start the VM and hand it the initial inputs (one power-on)."""
        env = dict(os.environ)
        env.update(self.extra_env)
        # frozen firmware first (as on a board, where only an update slot goes before it)
        paths = (self.vm_dir, ".frozen", self.code_root) if self.frozen else \
            (self.vm_dir, self.code_root, ".frozen")
        env["MICROPYPATH"] = ":".join(paths)
        env["VBOARD_LINK"] = "127.0.0.1:%d" % self._server.getsockname()[1]
        env["VBOARD_RESET_CAUSE"] = str(reset_cause)
        if self.web_port:
            env["VBOARD_WEB_PORT"] = str(self.web_port)
            lib = os.path.join(self.code_root, "lib")  # on a board's sys.path too
            if not (self.frozen or os.path.isdir(os.path.join(lib, "microdot"))):  # source
                lib = _compiled_libs()
            env["MICROPYPATH"] += ":" + lib
        with self.lock:
            self.pins = {}
            self.duty = {}
            self.telemetry = [None] * vlink.T_KEYS
            self.rfid = [None] * vlink.R_KEYS
            self._sent = {}
        proc = subprocess.Popen(self.vm_command(), cwd=self.state_dir, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                bufsize=1)
        self._proc = proc
        threading.Thread(target=self._console, args=(proc,), daemon=True).start()
        self._server.settimeout(20)
        try:
            conn, _ = self._server.accept()
        except socket.timeout:
            proc.kill()
            raise RuntimeError("the VM did not connect:\n" + "\n".join(self.console[-30:]))
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.lock:
            self._conn = conn
            self._update_pins()
            for pin in (board.CP_ADC,):
                self._write(vlink.COUPLE, pin, board.CP_PWM)
            self._write(vlink.KEEPALIVE, board.RELAY_KEEPALIVE, board.KEEPALIVE_MS * 1000)
            self._write(vlink.READY, 0, 0)
        t = threading.Thread(target=self._reader, args=(conn,), daemon=True)
        t.start()
        return proc, conn, t

    def _supervise(self):
        cause = vlink.PWRON_RESET
        while not self._stop.is_set():
            try:
                proc, conn, reader = self._boot(cause)
            except RuntimeError as e:
                with self.lock:
                    self.console.append(str(e))
                    self.running = False
                    self.changed.notify_all()
                return
            code = proc.wait()
            reader.join(timeout=2)
            with self.lock:
                self._conn = None
                self.changed.notify_all()
            conn.close()
            if self._stop.is_set():
                break
            if self._reset_to is not None:  # a power cycle, or the watchdog
                cause, self._reset_to = self._reset_to, None
                continue
            if code != vlink.RESET_EXIT:
                with self.lock:
                    self.console.append("virtual board: VM exited with code %s" % code)
                    self.running = False
                    self.changed.notify_all()
                break
            cause = self.resets[-1] if self.resets else vlink.HARD_RESET

    @property
    def web_url(self):
        """The firmware's web interface (and local API), served by the firmware itself."""
        return "http://127.0.0.1:%d" % self.web_port

    def _install_www(self):
        """Put the web interface's gzipped files on the board's flash, as deploy does:
        from the build when the VM runs it, else freshly built from firmware/web."""
        import shutil
        dst = os.path.join(self.state_dir, "www")
        src = os.path.join(self.code_root, "www")
        if os.path.isdir(src):
            if os.path.exists(dst):
                shutil.rmtree(dst)
            shutil.copytree(src, dst)
        else:
            from tools.build import build_www
            build_www(dst)

    def start(self):
        if self.web_port == 0:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            self.web_port = s.getsockname()[1]
            s.close()
        if self.web_port:
            self._install_www()
        self._server = socket.socket()
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(1)
        from tools.vboard.meters import attach
        self.meters = attach(self)  # the meters config.json names, served by pymodbus
        self.running = True
        for target in (self._supervise, self._physics):
            t = threading.Thread(target=target, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self):
        self._stop.set()
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        if self._server is not None:
            self._server.close()
        if self.meters is not None:
            self.meters.stop()
        self.running = False

    def power_cycle(self):
        """Cut the power and restore it: the VM restarts with a power-on reset."""
        proc = self._proc
        if proc is not None:
            self._reset_to = vlink.PWRON_RESET
            proc.kill()

    # ---------------------------------------------------------------- observing
    def wait_for(self, pred, timeout=10.0):
        """Wait until pred(world) is true; raises TimeoutError with the state otherwise."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while not pred(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("condition not met within %.1f s; state: %r\nconsole:\n%s"
                                       % (timeout, self.state()["firmware"],
                                          "\n".join(self.console[-15:])))
                self.changed.wait(min(left, 0.05))
        return True

    def tele(self, key):
        return self.telemetry[key]

    def status(self):
        s = self.telemetry[vlink.T_STATUS]
        return None if s is None else ch.STATUS_NAMES[s]

    def fault(self):
        return self.telemetry[vlink.T_FAULT]

    def led_names(self):
        return [classify_rgb(c) for c in self.leds]

    def flash_log(self):
        """The data log as written to the board's flash (its segment files, oldest
        first); empty until the first write."""
        d = os.path.join(self.state_dir, "log")
        if not os.path.isdir(d):
            return ""
        out = []
        for n in sorted(int(x) for x in os.listdir(d) if x.isdigit()):
            with open(os.path.join(d, str(n))) as f:
                out.append(f.read())
        return "".join(out)

    def rfid_state(self):
        """The firmware's RFID view: reader (None/'none'/'ok'/'failed'), whitelist size,
        longest reader poll stall (us), master card window open, programming step."""
        r = self.rfid
        return {"reader": None if r[vlink.R_READER] is None
                else ("none", "ok", "failed")[r[vlink.R_READER]],
                "cards": r[vlink.R_CARDS], "poll_us_max": r[vlink.R_BUSY_US],
                "enrolling": None if r[vlink.R_ENROLLING] is None
                else bool(r[vlink.R_ENROLLING]),
                "programming": r[vlink.R_STEP]}

    def state(self):
        """Everything observable, as plain JSON-able data."""
        with self.lock:
            t = self.telemetry
            high, low = self.pilot_plateaus_mv()
            bp = self.pwm_duty_bp()
            from firmware.core.pilot import da_from_duty
            fw = {"status": self.status(),
                  "phase": None if t[vlink.T_PHASE] is None else ch.PHASE_NAMES[t[vlink.T_PHASE]],
                  "fault": t[vlink.T_FAULT],
                  "fault_meaning": faults.meaning(t[vlink.T_FAULT]) if t[vlink.T_FAULT] else "",
                  "last_fault": t[vlink.T_LAST_FAULT],
                  "retries": t[vlink.T_RETRIES], "latched": bool(t[vlink.T_LATCHED]),
                  "offered_a": None if t[vlink.T_OFFERED_DA] is None
                  else t[vlink.T_OFFERED_DA] / 10,
                  "limit_a": None if t[vlink.T_LIMIT_DA] is None else t[vlink.T_LIMIT_DA] / 10,
                  "limit_source": None if t[vlink.T_LIMIT_SOURCE] is None
                  else limits.NAMES[t[vlink.T_LIMIT_SOURCE]],
                  "pilot_state": None if t[vlink.T_PILOT] is None else "?ABCDEFX"[t[vlink.T_PILOT]],
                  "pilot_high_mv": t[vlink.T_HIGH_MV], "pilot_low_mv": t[vlink.T_LOW_MV],
                  "current_a": None if t[vlink.T_CURRENT_DA] is None
                  else t[vlink.T_CURRENT_DA] / 10,
                  "temp_c": None if t[vlink.T_TEMP_DC] is None else t[vlink.T_TEMP_DC] / 10,
                  "mains_v": None if t[vlink.T_MAINS_DV] is None else t[vlink.T_MAINS_DV] / 10,
                  "authorized": None if t[vlink.T_AUTHORIZED] is None
                  else bool(t[vlink.T_AUTHORIZED]),
                  "dip": t[vlink.T_DIP], "safe_mode": bool(t[vlink.T_SAFE_MODE]),
                  "tick_us_max": t[vlink.T_TICK_US_MAX], "stall_us": t[vlink.T_STALL_US]}
            return {
                "pilot": {"car_state": self.car_pilot_state(), "high_mv": high, "low_mv": low,
                          "duty_pct": bp / 100, "pwm_on": 0 < bp < 10000,
                          "state_f": bp == 0, "offered_a": da_from_duty(bp) / 10},
                "relay": {"closed": self.relay_closed(), "output_live": self.output_live(),
                          "coil": self.pins.get(board.RELAY, 0) == 1,
                          "keepalive": self.keepalive(),
                          "keepalive_drops": self.keepalive_drops},
                "rcd_test": self.pins.get(board.RCD_TEST, 0) == 1,
                "car_current_a": round(self.car_current_a(), 1),
                "leds": dict(zip(LED_NAMES, self.led_names())),
                "leds_rgb": dict(zip(LED_NAMES, self.leds)),
                "buzzer_hz": self.freq.get(board.BUZZER, 0)
                if self.duty.get(board.BUZZER, 0) else 0,
                "firmware": fw,
                "inputs": dict(self.inputs),
                "rfid": {"field": list(self.card_field), "noise": self.rfid_noise,
                         "reader": self.rfid_reader, "firmware": self.rfid_state()},
                "vm": {"running": self.running and self._conn is not None, "boots": self.boots,
                       "resets": list(self.resets[-10:])},
            }
