"""The simulated world around the virtual board: car, mains, relay, sensors, buttons.

Runs in CPython. It starts the unchanged firmware in the MicroPython VM, drives the
virtual board's pins over a TCP link (see vm/vlink.py) and watches its outputs. The
physics is deliberately simple but electrically honest where the firmware decides:
pilot plateaus from the car's state and diode, the car drawing what the duty offers,
the relay's output side, the residual-current detector and its test input. The relay
closes only while the coil pin is high and the keep-alive monostable (modelled on the
VM side, machine.py) holds; `stall(ms)` blocks the VM's interpreter in one call into C.

World is put together from its parts: the VM process and its link (process.py), the
electrical model (electrical.py), the RFID reader's field (rfid_field.py); here are the
inputs, the buttons, the physics thread (driven by events: it sleeps until the next
moment the world changes by itself) and what tests and the panel observe.
"""
import os
import threading
import time

from tools.vboard.electrical import Electrical
from tools.vboard.link import HERE, ROOT, VMDIR, board, vlink  # noqa: F401 - for importers
from tools.vboard.process import (VmProcess, find_micropython, frozen_vm,  # noqa: F401
                                  frozen_vm_state, read_flash, why_not_frozen)
from tools.vboard.rfid_field import RfidField

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


def classify_rgb(rgb):
    r, g, b = rgb
    top = max(rgb)
    if top == 0:
        return "off"
    n = (r / top, g / top, b / top)
    return min(PALETTE, key=lambda k: sum((a - c) ** 2 for a, c in zip(PALETTE[k], n)))


class World(VmProcess, Electrical, RfidField):
    """The world of one virtual board. Thread-safe: tests and the web API call set()."""


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
        self._physics_wake = threading.Condition(self.lock)  # see _physics
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
        self.profile = []  # every line of the loop-hold profiler (VBOARD_PROFILE)
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
        # flash operations (vlink.FLASH_*) counted as [relay open, relay closed], the
        # relay's state as the VM saw it at each; and how many of them the world's own
        # view of the pins at their arrival would have counted otherwise (evidence for
        # docs/decisions.md: the flash gate)
        self.flash_ops = {vlink.FLASH_FILE: [0, 0], vlink.FLASH_ERASE: [0, 0],
                          vlink.FLASH_PROGRAM: [0, 0], vlink.FLASH_OVERWRITE: [0, 0]}
        self.flash_views_differ = 0
        # RFID: cards in the reader's field (two slots: both filled = a collision)
        self.card_field = [None, None]  # UID hex per slot
        self.rfid_noise = "none"
        self.rfid_reader = "ok"
        self.rfid = [None] * vlink.R_KEYS  # the firmware's side, from RFID_TELE records
        self._card_serial = 0
        self._card_off = []  # (slot, serial, when) a tapped card leaves the field
        self._rfid_t = {}  # link records describing the field, merged into _targets()

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

    def press(self, button, ms):
        if button not in ("service", "touch"):
            raise KeyError("unknown button %r" % button)
        if not 0 < ms <= 60000:
            raise ValueError("ms must be between 1 and 60000")
        with self.lock:
            self.inputs[button + "_button"] = True
            self._presses.append((button, time.monotonic() + ms / 1000))
            self._update_pins()

    def _update_pins(self):
        self._physics_wake.notify_all()  # a new moment may be due (held: self.lock)
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

    def _physics(self):
        """Driven by events: every input change and every record from the VM updates
        the pins at once (_update_pins); this thread sleeps until the next moment the
        world changes by itself (_next_due), or until such an update may have made a
        new one (it notifies _physics_wake)."""
        with self.lock:
            while not self._stop.is_set():
                now = time.monotonic()
                for rec in [p for p in self._presses if p[1] <= now]:
                    self._presses.remove(rec)
                    self.inputs[rec[0] + "_button"] = False
                for rec in [c for c in self._card_off if c[2] <= now]:
                    self._card_off.remove(rec)
                    self._field(rec[0], None, update=False)
                self._update_pins()
                due = self._next_due(now)
                self._physics_wake.wait(None if due is None else max(0.0, due - now))

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
