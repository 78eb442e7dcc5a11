"""The board scale's benchmark (docs/hardware.md, "Speed"): kernels like the firmware's
work, each timed in microseconds per run. Runs unchanged on the 64-bit VM
(tools/bench/latency.py) and on the emulated RP2040 (tools/rp2040/speed.mjs, the Pico W
image: firmware.core is frozen in); prints one JSON line."""
import json
import time

from firmware.core import webauth


class Gauge:  # attribute-heavy integer code, like the control tick's
    def __init__(self):
        self.level = 0
        self.peak = 0
        self.count = 0

    def step(self, x):
        if x > self.level:
            self.level = (self.level * 3 + x) >> 2
        else:
            self.level -= (self.level - x) >> 3
        if self.level > self.peak:
            self.peak = self.level
        self.count += 1
        return self.level


def interp():
    g = Gauge()
    for i in range(200):
        g.step((i * 37) & 1023)


STATUS = {"status": "Charging", "phase": "charging", "vehicle": True, "relay": True,
          "offered_a": 16.0, "current_a": [15.9, 16.0, 15.8], "power_w": 11020,
          "energy_wh": 5231, "limit_a": 16.0, "limit_by": "configured maximum",
          "fault": 0, "fault_text": "", "temp_c": 31.5, "mains_v": 230.4,
          "not_started": [], "time": "2026-12-03 13:00:00",
          "chart": {"every_s": 10, "a": list(range(60)), "kw": list(range(60))}}


def encode():
    json.loads(json.dumps(STATUS))


def text():
    out = []
    for i in range(40):
        out.append("%s %d: %s" % ("entry", i, "charging session end: %d.%03d kWh" % (i, i)))
    "\n".join(out).split("\n")


def pbkdf2():  # one chunk of the login's key derivation (50 iterations)
    webauth.pbkdf2("a password", b"0123456789abcdef", 50)


KERNELS = (("interp", interp, 50), ("encode", encode, 50), ("text", text, 50),
           ("pbkdf2", pbkdf2, 5))


def main():
    out = {}
    for name, fn, n in KERNELS:
        fn()  # warm up: first-call allocations
        best = None
        for _ in range(5):  # the best of five: a busy host's interruptions left out
            t0 = time.ticks_us()
            for _ in range(n):
                fn()
            us = time.ticks_diff(time.ticks_us(), t0) / n
            best = us if best is None or us < best else best
        out[name] = best
    try:
        import machine
        out["freq_hz"] = machine.freq()  # the board's clock as its firmware set it
    except (ImportError, AttributeError):
        pass
    print("SPEED " + json.dumps(out))


main()
