"""Virtual `machine` for the MicroPython unix VM: the pins of the virtual board.

It extends the VM's built-in machine module (mem8, idle, ...) with Pin, PWM, ADC, Timer,
WDT and reset, backed by the simulated world (tools/vboard/world.py) over a TCP link.

A hardware thread stands in for the peripherals: it reads the world's input records
into preallocated arrays, and it raises timer callbacks and pin interrupts with
micropython.schedule(), which is exactly how soft IRQs run on the boards: between two
bytecodes of whatever task is busy. It then wakes the asyncio poll with a datagram,
because the unix port, unlike the boards, does not run scheduled callbacks while it
sleeps in poll(). Pin IRQs are delivered as soft IRQs here even when hard=True.

Without VBOARD_LINK in the environment the pins are inert (benchmarks of the tick).
Outputs are sent from the main thread at the moment the firmware writes them.
"""
import array
import asyncio
import micropython
import os
import random
import select
import socket
import struct
import sys
import time

import _thread
import vlink
from umachine import *  # noqa: F401,F403  (the VM's own machine: mem8, idle, ...)

_N = vlink.NPINS
_in = array.array("i", [0] * _N)  # input levels / raw ADC values from the world
_alt = array.array("i", [0] * _N)  # raw ADC while the coupled PWM output is low
_couple = array.array("i", [-1] * _N)  # ADC pin -> PWM pin driving it
_duty = array.array("i", [0] * _N)  # PWM duty_u16 per pin, -1 = not a PWM
_level = array.array("i", [-1] * _N)  # last output level sent per pin
_irq = [None] * _N  # (handler, trigger, pin object) per pin
_adc_phase = [0]  # PWM phase (us) of the last ADC sample, see ADC.read_u16
_net_up = array.array("i", [1] * 8)  # simulated Wi-Fi networks in range (network.py)
_wired = [None] * _N  # pin -> callable(level) of a part on the board (SPI chip select, reset)
_buses = {}  # SPI bus id -> the simulated part on it
_timers = [None] * 8  # fixed slots: the hardware thread reads them while timers come and go
_tx = bytearray(vlink.RECORD)  # the main thread's record buffer
_tx_hw = bytearray(vlink.RECORD)  # the hardware thread's own, so they never share one
_link = None
_ready = False
_wdt = [0, 0]  # timeout ms, last feed ms (0 timeout = not started)
_reset_cause = int(os.getenv("VBOARD_RESET_CAUSE") or vlink.PWRON_RESET)
_wake_tx = None
_wake_dst = None
_wake_rx = None
_alive = True


def _send(op, ident, value, tx=_tx):
    s = _link
    if s is None:
        return
    struct.pack_into(vlink.FMT, tx, 0, op, ident, value)
    n = 0
    while n < vlink.RECORD:
        try:
            w = s.write(tx if n == 0 else memoryview(tx)[n:])
        except OSError:
            return  # the world went away: nothing left to report to
        n += w or 0


def report(key, value, op=vlink.TELEMETRY):
    """Telemetry for the panel (what the world cannot see on pins)."""
    _send(op, key, value)


# ------------------------------------------------------------------ the thread
def _wake():
    if _wake_tx is not None:
        try:
            _wake_tx.sendto(b"w", _wake_dst)
        except OSError:
            pass


# Callbacks the hardware thread raises live in fixed slots; the thread schedules a slot
# number, so nothing is allocated, and it never overfills the scheduler's queue (which
# would raise, and an exception is an allocation): that is a lost interrupt instead.
_slots = [None] * 24  # (function, argument); 0 and 1 are the link's own
_sched = array.array("i", [0, 0])  # slots scheduled (thread), slots run (main thread)


def _register(func, arg):
    """A slot for func(arg), taken on the main thread; returns its number."""
    i = _slots.index(None)
    _slots[i] = (func, arg)
    return i


def _run_slot(i):
    _sched[1] += 1
    e = _slots[i]
    if e is not None:
        e[0](e[1])


def _schedule(slot):
    """Raise slot's callback on the main thread; False if it was lost (queue full)."""
    if _sched[0] - _sched[1] >= 3:  # the scheduler's queue holds 4 (MICROPY_SCHEDULER_DEPTH)
        return False
    _sched[0] += 1
    try:
        micropython.schedule(_run_slot, slot)
    except RuntimeError:  # someone else filled it: lost, like an interrupt; never fatal here
        _sched[0] -= 1
        return False
    _wake()
    return True


def _on_input(ident, value):
    old = _in[ident]
    _in[ident] = value
    if old != value:  # when it landed, for reaction times measured on the VM's clock
        _send(vlink.IN_AT, ident, time.ticks_us() & 0x3FFFFFFF, _tx_hw)
    h = _irq[ident]
    if h is not None and old != value:
        slot, trigger = h
        rising = value and not old
        if (rising and trigger & Pin.IRQ_RISING) or (not rising and trigger & Pin.IRQ_FALLING):
            _schedule(slot)


def _handle(op, ident, value):
    global _ready
    if ident >= _N:
        return
    if op == vlink.SET_IN:
        _on_input(ident, value)
    elif op == vlink.SET_ALT:
        _alt[ident] = value
    elif op == vlink.COUPLE:
        _couple[ident] = value
    elif op == vlink.READY:
        _ready = True
    elif op == vlink.NET_UP:
        _net_up[ident & 7] = value
    elif vlink.CARD_BYTE <= op <= vlink.RFID_BROWNOUT:
        _defer(op, ident, value)


# The hardware thread must never allocate: this VM has no GIL, and a garbage collection
# started on that thread runs while the main thread keeps moving pointers, which frees
# live objects (seen as crashes in select.poll). Records that need objects (the RFID
# card field) are queued as ints here and applied on the main thread.
_DEFER = 32
_deferred = array.array("i", [0] * (3 * _DEFER))
_dq = array.array("i", [0, 0, 0])  # head (thread), tail (main thread), drain scheduled


def _defer(op, ident, value):
    h = _dq[0]
    if h - _dq[1] >= _DEFER:
        return  # full: a lost record, as a lost interrupt would be
    i = h % _DEFER * 3
    _deferred[i] = op
    _deferred[i + 1] = ident
    _deferred[i + 2] = value
    _dq[0] = h + 1
    if not _dq[2]:
        _dq[2] = 1
        if not _schedule(0):
            _dq[2] = 0  # lost: the next record tries again


def _run_deferred(_):
    _dq[2] = 0
    while _dq[1] < _dq[0]:
        i = _dq[1] % _DEFER * 3
        rc522_sim.CHIP.link(_deferred[i], _deferred[i + 1], _deferred[i + 2])
        _dq[1] += 1


def _hw_thread(rec, views, poller):
    """The peripherals. Allocates nothing: its buffers come from the main thread."""
    got = 0
    wdt_fired = False
    while _alive:
        now = time.ticks_us()
        wait = 1
        for t in _timers:
            if t is None:
                continue
            d = time.ticks_diff(t[0], now)
            if d <= 0:
                t[0] = time.ticks_add(t[0], t[1])
                if time.ticks_diff(t[0], now) < 0:  # fell behind: skip, do not burst
                    t[0] = time.ticks_add(now, t[1])
                _schedule(t[2])
        if _wdt[0] and not wdt_fired and \
                time.ticks_diff(time.ticks_ms(), _wdt[1]) > _wdt[0]:
            # A real watchdog resets the chip whatever the CPU does; the world plays that
            # part: on this record it kills the VM and powers it up again.
            wdt_fired = True
            _send(vlink.RESET, 0, vlink.WDT_RESET, _tx_hw)  # the world says so in its console
        if _link is None:
            time.sleep_ms(wait)
            continue
        for _ in poller.ipoll(wait):
            try:
                n = _link.readinto(views[got])
            except OSError:
                n = 0
            if not n:  # world closed the link: the board lost power
                _schedule(1)
                return
            got += n
            if got == vlink.RECORD:
                got = 0
                # decoded by hand: struct.unpack would allocate a tuple per record
                value = rec[4] | rec[5] << 8 | rec[6] << 16 | rec[7] << 24
                if value >= 0x80000000:
                    value -= 0x100000000
                _handle(rec[0] | rec[1] << 8, rec[2] | rec[3] << 8, value)


def _power_lost(_):
    print("virtual board: link closed")
    sys.exit(0)


def _connect():
    global _link, _wake_tx, _wake_dst, _wake_rx
    addr = os.getenv("VBOARD_LINK")
    if not addr:
        return
    host, port = addr.split(":")
    s = socket.socket()
    s.connect(socket.getaddrinfo(host, int(port))[0][-1])
    _link = s
    _send(vlink.HELLO, 0, _reset_cause)
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    while True:  # the unix port has no getsockname(): pick a free port ourselves
        port = 20000 + random.getrandbits(15)
        try:
            rx.bind(socket.getaddrinfo("127.0.0.1", port)[0][-1])
            break
        except OSError:
            pass
    rx.setblocking(False)
    _wake_rx = rx
    _wake_dst = socket.getaddrinfo("127.0.0.1", port)[0][-1]
    _wake_tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rec = bytearray(vlink.RECORD)
    poller = select.poll()
    poller.register(s, select.POLLIN)
    _thread.start_new_thread(_hw_thread, (rec, [memoryview(rec)[i:] for i in range(8)], poller))
    while not _ready:  # the world sends every input, then READY
        time.sleep_ms(1)


async def _wake_pump():
    r = asyncio.StreamReader(_wake_rx)
    while True:
        await r.read(64)


_pump_started = False


def _start_pump():
    global _pump_started
    if _wake_rx is not None and not _pump_started:
        _pump_started = True
        asyncio.create_task(_wake_pump())


# ------------------------------------------------------------------ peripherals
def _pin_id(p):
    return p.id if isinstance(p, Pin) else p


class Pin:
    IN = 0
    OUT = 1
    OPEN_DRAIN = 2
    PULL_UP = 1
    PULL_DOWN = 2
    IRQ_RISING = 1
    IRQ_FALLING = 2

    def __new__(cls, ident, *args, **kw):
        # As on the boards, Pin(n) is one object per pin, made once: here at import
        # (in the virtual board's share of the heap), so the firmware's figure excludes it.
        return _pins[ident]

    def __init__(self, ident, mode=-1, pull=-1, value=None):
        self.init(mode, pull, value)

    def init(self, mode=-1, pull=-1, value=None):
        if mode != -1:  # as on the boards: Pin(n) alone leaves the mode as it is
            self.mode = mode
        if value is not None:
            self.value(value)

    def value(self, v=None):
        i = self.id
        if v is None:
            if self.mode == Pin.OUT:
                return 1 if _level[i] > 0 else 0
            return 1 if _in[i] else 0
        v = 1 if v else 0
        if _level[i] != v:
            _level[i] = v
            if _wired[i] is not None:  # wired to a part on the board, not to the world
                _wired[i](v)
                return
            _send(vlink.OUT_PIN, i, v)
            _send(vlink.OUT_AT, i, time.ticks_us() & 0x3FFFFFFF)

    __call__ = value

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def irq(self, handler=None, trigger=3, hard=False):
        old = _irq[self.id]
        _irq[self.id] = None
        if old is not None:
            _slots[old[0]] = None
        if handler is not None:
            _irq[self.id] = (_register(handler, self), trigger)


class PWM:
    def __init__(self, pin, freq=1000, duty_u16=0):
        self.id = _pin_id(pin)
        self._freq = 0
        self.freq(freq)
        _duty[self.id] = -1
        self.duty_u16(duty_u16)

    def freq(self, f=None):
        if f is None:
            return self._freq
        if f != self._freq:
            self._freq = f
            _send(vlink.PWM_FREQ, self.id, f)

    def duty_u16(self, d=None):
        if d is None:
            return _duty[self.id]
        if d != _duty[self.id]:
            _duty[self.id] = d
            _send(vlink.PWM_DUTY, self.id, d)

    def deinit(self):
        self.duty_u16(0)


class ADC:
    def __new__(cls, pin, *args, **kw):
        return _adcs[_pin_id(pin)]  # one static object per pin, as on the boards

    def __init__(self, pin, atten=None):
        pass

    def read_u16(self):
        i = self.id
        p = _couple[i]
        if p < 0:
            return _in[i]
        d = _duty[p]
        if d >= 65535:
            return _in[i]
        if d <= 0:
            return _alt[i]
        # Where in the 1 kHz period is this sample? The phase advances 7 us per read, not
        # with the wall clock: the VM's main thread is paused for ~200 us at the same
        # point of every millisecond (seen: whole bursts never sampled below ~190 us),
        # so a wall-clock phase hid a short high plateau (10 A) from whole bursts: a
        # spurious state F and fault 5. A board samples without such pauses.
        ph = _adc_phase[0] + 7
        ph = ph - 1000 if ph >= 1000 else ph
        _adc_phase[0] = ph
        return _in[i] if ph * 65536 < d * 1000 else _alt[i]


class Timer:
    ONE_SHOT = 0
    PERIODIC = 1

    def __init__(self, ident=-1, mode=1, period=-1, callback=None):
        self._t = None
        if callback is not None:
            self.init(mode=mode, period=period, callback=callback)

    def init(self, mode=1, period=1000, callback=None, freq=None):
        self.deinit()
        us = int(1000000 // freq) if freq else period * 1000
        self._t = [time.ticks_add(time.ticks_us(), us), us, _register(callback, self)]
        _timers[_timers.index(None)] = self._t  # ValueError: more than 8 timers
        _start_pump()

    def deinit(self):
        if self._t is not None and self._t in _timers:
            _timers[_timers.index(self._t)] = None
            _slots[self._t[2]] = None
        self._t = None


class WDT:
    def __init__(self, id=0, timeout=5000):
        _wdt[0] = timeout
        _wdt[1] = time.ticks_ms()

    def feed(self):
        _wdt[1] = time.ticks_ms()


PWRON_RESET = vlink.PWRON_RESET
HARD_RESET = vlink.HARD_RESET
WDT_RESET = vlink.WDT_RESET
SOFT_RESET = vlink.SOFT_RESET


def reset():
    _send(vlink.RESET, 0, vlink.HARD_RESET)
    sys.exit(vlink.RESET_EXIT)


def reset_cause():
    return _reset_cause


def unique_id():
    return (os.getenv("VBOARD_ID") or "VB0000000001").encode()


def freq():
    return 240000000


def UART(*args, **kw):
    """RS485 meters: a pty the world wires up (vuart, loaded only when a meter is)."""
    from vuart import UART
    return UART(*args, **kw)


class SPI:
    """An SPI controller; the part on the bus (rc522_sim) answers while its chip select
    is low. Nothing selected: MISO floats high."""

    MSB = 0
    LSB = 1

    def __init__(self, ident, baudrate=1000000, polarity=0, phase=0, bits=8, firstbit=0,
                 sck=None, mosi=None, miso=None):
        self.id = ident
        if not _buses:
            # wired at the first bus, not at import: the part reads the board's pin map
            # from the firmware package, which boot.py must first point at the running
            # software slot
            rc522_sim.attach(_wired, _buses)

    def init(self, *args, **kw):
        pass

    def deinit(self):
        pass

    def write_readinto(self, wbuf, rbuf):
        part = _buses.get(self.id)
        if part is not None and part.selected:
            part.transfer(wbuf, rbuf)
        elif rbuf is not None:
            for i in range(len(rbuf)):
                rbuf[i] = 0xFF

    def write(self, buf):
        self.write_readinto(buf, None)

    def readinto(self, buf, write=0):
        out = bytearray(len(buf))
        for i in range(len(out)):
            out[i] = write
        self.write_readinto(out, buf)

    def read(self, n, write=0):
        buf = bytearray(n)
        self.readinto(buf, write)
        return bytes(buf)


import rc522_sim  # noqa: E402  (the RFID reader on the SPI bus)


def _static(cls):
    objs = []
    for i in range(_N):
        o = object.__new__(cls)
        o.id = i
        o.mode = -1
        objs.append(o)
    return objs


_register(_run_deferred, None)  # slot 0
_register(_power_lost, None)  # slot 1
_pins = _static(Pin)
_adcs = _static(ADC)
_connect()
