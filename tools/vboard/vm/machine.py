"""Virtual `machine` for the MicroPython unix VM: the pins of the virtual board.

It extends the VM's built-in machine module (mem8, idle, ...) with Pin, PWM, ADC, Timer,
WDT and reset, backed by the simulated world (tools/vboard/world.py) over a TCP link.

A hardware thread stands in for the peripherals: it reads the world's input records
into preallocated arrays, and it raises timer callbacks and pin interrupts with
micropython.schedule(), which is exactly how soft IRQs run on the boards: between two
bytecodes of whatever task is busy. It then wakes the asyncio poll with a datagram,
because the unix port, unlike the boards, does not run scheduled callbacks while it
sleeps in poll(). Hard ones (Timer and Pin.irq with hard=True, as on an RP2040) it calls
itself, at once, even while the main thread is stuck in a call into C (a stall the
world asks for, vlink.STALL; hard timers only then, see _hw_thread); with
VBOARD_NO_HARD_IRQ set they are refused as on an ESP32. The relay's keep-alive pin
drives a retriggerable monostable on the board
(vlink.KEEPALIVE): the thread drops its output when the pulses stop.

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
from micropython import const
from umachine import *  # noqa: F401,F403  (the VM's own machine: mem8, idle, ...)

# Every module-level name, function, argument and attribute here is an interned name on
# the VM's heap, counted with the firmware's towards the doubling qstr pools; on a board
# this module is C code. Hence private constants as const (mpy-cross writes them in) and
# related scalars kept in one array or list, indexed by consts.
# (Literals: run from source, as the tests do, a const takes no module's attribute.)
_N = const(64)  # vlink.NPINS
_FMT = const("<HHi")  # vlink.FMT (as _hw_thread decodes it); a const string is no interned name
assert _N == vlink.NPINS
_in = array.array("i", [0] * _N)  # input levels / raw ADC values from the world
_alt = array.array("i", [0] * _N)  # raw ADC while the coupled PWM output is low
_couple = array.array("i", [-1] * _N)  # ADC pin -> PWM pin driving it
_duty = array.array("i", [0] * _N)  # PWM duty_u16 per pin, -1 = not a PWM
_level = array.array("i", [-1] * _N)  # last output level sent per pin
_irq = [None] * _N  # (slot, trigger) per pin with an interrupt handler
_net_up = array.array("i", [1] * 8)  # simulated Wi-Fi networks in range (network.py)
_wired = [None] * _N  # pin -> callable(level) of a part on the board (SPI chip select, reset)
_buses = {}  # SPI bus id -> the simulated parts on it (each with its chip select)
_timers = [None] * 8  # fixed slots: the hardware thread reads them while timers come and go
# the main thread's record buffer, and the hardware thread's own, so they never share one
_tx = (bytearray(vlink.RECORD), bytearray(vlink.RECORD))
# the link to the world, and the datagram sockets that wake the asyncio poll (see _connect)
_SOCK = const(0)
_WAKE_TX = const(1)
_WAKE_TO = const(2)  # the address _WAKE_RX listens on
_WAKE_RX = const(3)
_link = [None] * 4
# scalars of both threads
_WDT_MS = const(0)  # the watchdog's timeout (0: not started)
_WDT_FED = const(1)  # ticks_ms of its last feed
_ADC_PHASE = const(2)  # PWM phase (us) of the last ADC sample, see ADC.read_u16
_SCHED = const(3)  # slots scheduled (hardware thread), see _schedule
_RAN = const(4)  # slots run (main thread)
_DQ_HEAD = const(5)  # records deferred (hardware thread), see _handle
_DQ_TAIL = const(6)  # records applied (main thread)
_DQ_DRAIN = const(7)  # 1: their drain is scheduled
_READY = const(8)  # 1: the world sent every input
_PUMP = const(9)  # 1: the wake-up pump runs
_CAUSE = const(10)  # the reset cause
_STALL_MAX = const(11)  # VBOARD_PILOT_STALL: longest stall episode, ms (0: none), see _stall
_STALL_ON = const(12)  # 1: in an episode
_STALL_AT = const(13)  # ticks_ms: the episode's end, or the next one's start
_STALL_CUT = const(14)  # pilot reads before the next pause
_STALLS = const(15)  # episodes so far
_KA_PIN = const(16)  # the keep-alive pin (-1: no monostable)
_KA_US = const(17)  # the monostable's drop-out time
_KA_AT = const(18)  # ticks_us (mod 2**30) of the keep-alive's last rising edge
_KA_ON = const(19)  # the monostable's output (the relay coil enabled)
_STALL_MS = const(20)  # the stall the world asked for
_HARD = const(21)  # 1: hard IRQs (on the hardware thread), 0: refused as on an ESP32
_STALLING = const(22)  # 1: the main thread is in the stall the world asked for
_COIL_PIN = const(23)  # the relay coil's pin (vlink.COIL; -1: not told), see _contacts
_STALL_DUE = const(24)  # 1: the world asked for a stall not yet scheduled (queue full)
_HW_ID = const(0)  # _ids: the hardware thread's ident (hard IRQs send with its buffer)
_st = array.array("i", [0] * 25)
_st[_CAUSE] = int(os.getenv("VBOARD_RESET_CAUSE") or vlink.PWRON_RESET)
_st[_STALL_MAX] = int(os.getenv("VBOARD_PILOT_STALL") or 0)
_st[_KA_PIN] = -1
_st[_COIL_PIN] = -1
_st[_HARD] = 0 if os.getenv("VBOARD_NO_HARD_IRQ") else 1
_ids = [0]  # thread idents do not fit the array


def _send(op, id, value, tx=_tx[0]):
    s = _link[_SOCK]
    if s is None:
        return
    struct.pack_into(_FMT, tx, 0, op, id, value)
    n = 0
    while n < vlink.RECORD:
        try:
            w = s.write(tx if n == 0 else memoryview(tx)[n:])
        except OSError:
            return  # the world went away: nothing left to report to
        n += w or 0


# ------------------------------------------------------------------ the thread
# Callbacks the hardware thread raises live in fixed slots; the thread schedules a slot
# number, so nothing is allocated, and it never overfills the scheduler's queue (which
# would raise, and an exception is an allocation): that is a lost interrupt instead.
_slots = [None] * 24  # (function, argument); 0 and 1 are the link's own


def _register(f, arg):
    """A slot for f(arg), taken on the main thread; returns its number."""
    i = _slots.index(None)
    _slots[i] = (f, arg)
    return i


def _run_slot(i):
    e = _slots[i]
    try:
        if e is not None:
            e[0](e[1])
    finally:  # counted once done: a callback the host pauses midway is still due
        _st[_RAN] += 1


def _hard(i):
    """A hard IRQ: slot i's callback now, on the hardware thread (allocating nothing)."""
    e = _slots[i]
    if e is not None:
        try:
            e[0](e[1])
        except Exception as ex:  # noqa: BLE001 - a board would print it and go on
            print("hard IRQ failed:", ex)


def _out(i, v):
    """Pin i's new level and when, from the main thread or from a hard IRQ."""
    tx = _tx[1] if _thread.get_ident() == _ids[_HW_ID] else _tx[0]
    _send(vlink.OUT_PIN, i, v, tx)
    _send(vlink.OUT_AT, i, time.ticks_us() & 0x3FFFFFFF, tx)


def _contacts():
    """1 if the relay's contacts are closed now as this VM sees them: the coil pin high
    and the keep-alive monostable's output holding (what the world's
    electrical.relay_closed computes from the pin records), else 0."""
    c = _st[_COIL_PIN]
    return 1 if c >= 0 and _level[c] > 0 and _st[_KA_ON] else 0


def _schedule(slot):
    """Raise slot's callback on the main thread; False if it was lost (queue full)."""
    if _st[_SCHED] - _st[_RAN] >= 3:  # the scheduler's queue holds 4 (MICROPY_SCHEDULER_DEPTH)
        return False
    _st[_SCHED] += 1
    try:
        micropython.schedule(_run_slot, slot)
    except RuntimeError:  # someone else filled it: lost, like an interrupt; never fatal here
        _st[_SCHED] -= 1
        return False
    if _link[_WAKE_TX] is not None:
        try:
            _link[_WAKE_TX].sendto(b"w", _link[_WAKE_TO])
        except OSError:
            pass
    return True


# The hardware thread must never allocate: this VM has no GIL, and a garbage collection
# started on that thread runs while the main thread keeps moving pointers, which frees
# live objects (seen as crashes in select.poll). Records that need objects (the RFID
# card field) are queued as ints here and applied on the main thread.
_DEFER = const(32)
_deferred = array.array("i", [0] * (3 * _DEFER))


def _handle(op, id, value):
    if id >= _N:
        return
    if op == vlink.SET_IN:
        old = _in[id]
        _in[id] = value
        if old != value:  # when it landed, for reaction times measured on the VM's clock
            _send(vlink.IN_AT, id, time.ticks_us() & 0x3FFFFFFF, _tx[1])
        h = _irq[id]
        if h is not None and old != value:
            slot, trigger, hard = h
            rising = value and not old
            if (rising and trigger & Pin.IRQ_RISING) or (not rising and trigger & Pin.IRQ_FALLING):
                if hard:
                    _hard(slot)
                else:
                    _schedule(slot)
    elif op == vlink.SET_ALT:
        _alt[id] = value
    elif op == vlink.COUPLE:
        _couple[id] = value
    elif op == vlink.READY:
        _st[_READY] = 1
    elif op == vlink.KEEPALIVE:
        _st[_KA_US] = value
        _st[_KA_PIN] = id
    elif op == vlink.COIL:
        _st[_COIL_PIN] = id
    elif op == vlink.STALL:
        _st[_STALL_MS] = value
        _st[_STALL_DUE] = 1  # scheduled by the thread's loop: the queue may be full now
    elif op == vlink.NET_UP:
        _net_up[id & 7] = value
    elif vlink.CARD_BYTE <= op <= vlink.RFID_BROWNOUT:  # deferred, see above
        h = _st[_DQ_HEAD]
        if h - _st[_DQ_TAIL] >= _DEFER:
            return  # full: a lost record, as a lost interrupt would be
        i = h % _DEFER * 3
        _deferred[i] = op
        _deferred[i + 1] = id
        _deferred[i + 2] = value
        _st[_DQ_HEAD] = h + 1
        if not _st[_DQ_DRAIN]:
            _st[_DQ_DRAIN] = 1
            if not _schedule(0):
                _st[_DQ_DRAIN] = 0  # lost: the next record tries again


def _link_slot(what):
    """The link's own slots: 0 applies the deferred records, 1 reports the link closed,
    2 blocks the interpreter in one call into C (time.sleep(float) runs no scheduled
    callback, as a TLS step or a flash erase on a board): only hard IRQs run meanwhile."""
    if what == 2:
        _st[_STALLING] = 1
        _send(vlink.STALL_AT, 1, time.ticks_us() & 0x3FFFFFFF)
        time.sleep(_st[_STALL_MS] / 1000)
        _st[_STALLING] = 0
        _send(vlink.STALL_AT, 0, time.ticks_us() & 0x3FFFFFFF)
        return
    if what:  # the wake-up pump ends the VM (an exception raised here is only printed)
        try:
            print("virtual board: link closed")
        except OSError:  # the world is gone, and with it the console pipe
            pass
        return
    _st[_DQ_DRAIN] = 0
    while _st[_DQ_TAIL] < _st[_DQ_HEAD]:
        i = _st[_DQ_TAIL] % _DEFER * 3
        rc522_sim.CHIP.link(_deferred[i], _deferred[i + 1], _deferred[i + 2])
        _st[_DQ_TAIL] += 1


def _hw_thread(buf, poller):
    """The peripherals. Allocates nothing: its buffers come from the main thread (`buf`:
    the record buffer as a memoryview from each offset, buf[0] the whole record)."""
    rec = buf[0]
    got = 0
    wdt_fired = False
    _ids[_HW_ID] = _thread.get_ident()
    prev = time.ticks_us()
    wait = 1  # ms the last round waited
    while True:
        now = time.ticks_us()
        # a stall the world asked for is never lost, unlike an interrupt: under load the
        # scheduler's queue is often full of ticks the host has not run yet
        if _st[_STALL_DUE] and _schedule(2):
            _st[_STALL_DUE] = 0
        # Time the host withholds from the VM does not count for the monostable (a
        # board is never paused): this loop coming round late (the host paused this
        # thread), or soft callbacks pending outside a stall the world asked for (the
        # host has not yet run the main thread; on a board a pending soft IRQ runs
        # within microseconds unless the interpreter is in C, which here only the
        # asked-for stall stands for: the firmware's own calls into C take microseconds
        # on the host, docs/decisions.md lists their board durations). Hard timers,
        # which read the firmware's wall clock, run only during such a stall: outside
        # it a late tick is the host's doing (seen: ticks 40-300 ms late under a load
        # of 15 on two cores). Hard pin IRQs run whenever their edge comes.
        dt = time.ticks_diff(now, prev)
        prev = now
        if dt > wait * 1000 + 2000 or (_st[_SCHED] != _st[_RAN] and not _st[_STALLING]):
            _st[_KA_AT] = (_st[_KA_AT] + dt) & 0x3FFFFFFF
        wait = 5  # ms until the next thing due here: a timer, the monostable's drop-out
        for t in _timers:
            if t is None:
                continue
            d = time.ticks_diff(t[0], now)
            if d <= 0:
                t[0] = time.ticks_add(t[0], t[1])
                if time.ticks_diff(t[0], now) < 0:  # fell behind: skip, do not burst
                    t[0] = time.ticks_add(now, t[1])
                if t[3]:
                    if _st[_STALLING]:
                        _hard(t[2])
                else:
                    _schedule(t[2])
                d = time.ticks_diff(t[0], now)
            if d < wait * 1000:  # woken up to 1 ms late, as the fixed 1 ms poll was
                wait = d // 1000 + 1 if d > 0 else 1
        # (the main thread may stamp an edge after `now` was read: a negative age)
        if _st[_KA_ON] and _st[_KA_US] < (now - _st[_KA_AT]) & 0x3FFFFFFF < 0x20000000:
            # no rising edge for the drop-out time: the monostable's output falls, at
            # that moment on the VM's clock (the reaction figures read it)
            _st[_KA_ON] = 0
            _send(vlink.OUT_PIN, _st[_KA_PIN], 0, _tx[1])
            _send(vlink.OUT_AT, _st[_KA_PIN], (_st[_KA_AT] + _st[_KA_US]) & 0x3FFFFFFF, _tx[1])
        elif _st[_KA_ON]:
            d = _st[_KA_US] - ((now - _st[_KA_AT]) & 0x3FFFFFFF)
            if d < wait * 1000:
                wait = d // 1000 + 1 if d > 0 else 1
        if _st[_WDT_MS] and not wdt_fired and \
                time.ticks_diff(time.ticks_ms(), _st[_WDT_FED]) > _st[_WDT_MS]:
            # A real watchdog resets the chip whatever the CPU does; the world plays that
            # part: on this record it kills the VM and powers it up again.
            wdt_fired = True
            _send(vlink.RESET, 0, vlink.WDT_RESET, _tx[1])  # the world says so in its console
        s = _link[_SOCK]
        if s is None:
            time.sleep_ms(wait)
            continue
        for _ in poller.ipoll(wait):
            try:
                n = s.readinto(buf[got])
            except OSError:
                n = 0
            if not n:  # world closed the link: the board lost power
                _link[_SOCK] = None  # the pump's sign to end the VM
                while not _schedule(1):  # never lost: it also wakes the pump
                    time.sleep_ms(1)
                return
            got += n
            if got == vlink.RECORD:
                got = 0
                # decoded by hand: struct.unpack would allocate a tuple per record
                value = rec[4] | rec[5] << 8 | rec[6] << 16 | rec[7] << 24
                if value >= 0x80000000:
                    value -= 0x100000000
                _handle(rec[0] | rec[1] << 8, rec[2] | rec[3] << 8, value)


def _connect():
    addr = os.getenv("VBOARD_LINK")
    if not addr:
        return
    host, port = addr.split(":")
    s = socket.socket()
    s.connect(socket.getaddrinfo(host, int(port))[0][-1])
    _link[_SOCK] = s
    _send(vlink.HELLO, 0, _st[_CAUSE])
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    while True:  # the unix port has no getsockname(): pick a free port ourselves
        port = 20000 + random.getrandbits(15)
        try:
            rx.bind(socket.getaddrinfo("127.0.0.1", port)[0][-1])
            break
        except OSError:
            pass
    rx.setblocking(False)
    _link[_WAKE_RX] = rx
    _link[_WAKE_TO] = socket.getaddrinfo("127.0.0.1", port)[0][-1]
    _link[_WAKE_TX] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rec = bytearray(vlink.RECORD)
    poller = select.poll()
    poller.register(s, select.POLLIN)
    _thread.start_new_thread(_hw_thread, ([memoryview(rec)[i:] for i in range(8)], poller))
    while not _st[_READY]:  # the world sends every input, then READY
        time.sleep_ms(1)


async def _wake_pump():
    # 200 wake-ups a second: into one buffer (read() made 50 KB/s of garbage)
    r = asyncio.StreamReader(_link[_WAKE_RX])
    buf = bytearray(64)
    while _link[_SOCK] is not None:
        await r.readinto(buf)
    raise SystemExit(0)  # the world is gone: a task's SystemExit ends asyncio.run


# ------------------------------------------------------------------ peripherals
# Only what the firmware uses is here: every constant and argument name would cost an
# interned name (unused arguments are taken by *args/**kw, whose names are not interned).
class Pin:
    IN = 0
    OUT = 1
    PULL_UP = 1
    IRQ_RISING = 1
    IRQ_FALLING = 2

    def __new__(cls, id, *args, **kw):
        # As on the boards, Pin(n) is one object per pin, made once: here at import
        # (in the virtual board's share of the heap), so the firmware's figure excludes it.
        return _pins[id]

    def __init__(self, id, mode=-1, *args, value=None):  # args: pull
        self.init(mode, value=value)

    def init(self, mode=-1, *args, value=None):
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
            if i == _st[_KA_PIN]:  # into the monostable: only its output goes to the world
                if v:
                    _st[_KA_AT] = time.ticks_us() & 0x3FFFFFFF
                    if not _st[_KA_ON]:
                        _st[_KA_ON] = 1
                        _out(i, 1)
                return
            if _wired[i] is not None:  # wired to a part on the board, not to the world
                _wired[i](v)
                return
            _out(i, v)

    __call__ = value

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def irq(self, handler=None, trigger=3, hard=False):
        if hard and not _st[_HARD]:
            raise TypeError("hard")  # as the ESP32 port: no such argument
        old = _irq[self.id]
        _irq[self.id] = None
        if old is not None:
            _slots[old[0]] = None
        if handler is not None:
            _irq[self.id] = (_register(handler, self), trigger, hard)


class PWM:
    def __init__(self, pin, freq=1000, duty_u16=0):
        self.id = getattr(pin, "id", pin)  # a Pin or its number
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


def _stall():
    """Test hook: a busy host (or a GC pause, an interrupt storm on a board) stalls the
    pilot burst. Every 0.5-2.5 s an episode of up to VBOARD_PILOT_STALL ms starts in which
    the sampling thread pauses 2-17 ms (longer than a burst) after a random number of
    pilot reads, again and again: most bursts then miss a plateau, many in a row."""
    now = time.ticks_ms()
    if not _st[_STALL_ON]:
        if time.ticks_diff(now, _st[_STALL_AT]) < 0:
            return
        _st[_STALL_ON] = 1
        _st[_STALL_AT] = time.ticks_add(now, 1 + random.getrandbits(16) % _st[_STALL_MAX])
        _st[_STALL_CUT] = random.getrandbits(7)
    if time.ticks_diff(now, _st[_STALL_AT]) >= 0:
        _st[_STALL_ON] = 0
        _st[_STALL_AT] = time.ticks_add(now, 500 + random.getrandbits(11))
        _st[_STALLS] += 1
        print("vboard: pilot stall episode", _st[_STALLS])
        return
    n = _st[_STALL_CUT]
    if n > 0:
        _st[_STALL_CUT] = n - 1
        return
    pause = 2 + random.getrandbits(4)
    while time.ticks_diff(time.ticks_ms(), now) < pause:
        pass
    _st[_STALL_CUT] = random.getrandbits(7)


class ADC:
    def __new__(cls, pin, *args, **kw):
        return _adcs[getattr(pin, "id", pin)]  # one static object per pin, as on the boards

    def __init__(self, *args, **kw):  # pin, atten
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
        if _st[_STALL_MAX]:
            _stall()
        # Where in the 1 kHz period is this sample? The phase advances per read, not with
        # the wall clock: the VM's main thread is paused for ~200 us at the same point of
        # every millisecond (seen: whole bursts never sampled below ~190 us), so a
        # wall-clock phase hid a short high plateau (10 A) from whole bursts: a spurious
        # state F and fault 5. A board samples without such pauses. The step is the
        # golden section of the period (618 us), not a board's ~7 us between reads: on a
        # busy host a burst of 1.1 ms gets only a few dozen reads, and 7 us steps then
        # stayed inside one plateau (fault 5 again, a busy host looking like a car
        # without its diode); golden steps spread any few reads over the whole period.
        ph = _st[_ADC_PHASE] + 618
        ph = ph - 1000 if ph >= 1000 else ph
        _st[_ADC_PHASE] = ph
        return _in[i] if ph * 65536 < d * 1000 else _alt[i]


class Timer:
    PERIODIC = 1

    def __init__(self, id=-1, **kw):  # kw: as for init
        self._t = None
        if kw.get("callback") is not None:
            self.init(**kw)

    def init(self, mode=1, period=1000, callback=None, freq=None, hard=False):
        if hard and not _st[_HARD]:
            raise ValueError("hard")  # as the ESP32 port
        self.deinit()
        us = int(1000000 // freq) if freq else period * 1000
        self._t = [time.ticks_add(time.ticks_us(), us), us, _register(callback, self), hard]
        _timers[_timers.index(None)] = self._t  # ValueError: more than 8 timers
        if _link[_WAKE_RX] is not None and not _st[_PUMP]:
            _st[_PUMP] = 1
            asyncio.create_task(_wake_pump())

    def deinit(self):
        if self._t is not None and self._t in _timers:
            _timers[_timers.index(self._t)] = None
            _slots[self._t[2]] = None
        self._t = None


class WDT:
    def __init__(self, id=0, timeout=5000):
        _st[_WDT_MS] = timeout
        _st[_WDT_FED] = time.ticks_ms()

    def feed(self):
        _st[_WDT_FED] = time.ticks_ms()


PWRON_RESET = vlink.PWRON_RESET
HARD_RESET = vlink.HARD_RESET
WDT_RESET = vlink.WDT_RESET
SOFT_RESET = vlink.SOFT_RESET


def reset():
    _send(vlink.RESET, 0, vlink.HARD_RESET)
    sys.exit(vlink.RESET_EXIT)


def reset_cause():
    return _st[_CAUSE]


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

    def __init__(self, id, *args, **kw):  # the rest: baudrate, pins, ... (all as given)
        self.id = id
        if not _buses:
            # wired at the first bus, not at import: the part reads the board's pin map
            # from the firmware package, which boot.py must first point at the running
            # software slot
            rc522_sim.attach()
            if os.getenv("VBOARD_SD"):  # an SD card slot: its model only when asked for
                import sdcard_sim
                from firmware.boards import virtual
                sdcard_sim.attach(sys.modules[__name__], virtual)

    def init(self, *args, **kw):
        pass

    def deinit(self):
        pass

    def write_readinto(self, data, buf):  # data out, what comes back into buf (or None)
        for part in _buses.get(self.id, ()):
            if part.selected:
                part.write_readinto(data, buf)  # the part speaks the same call
                return
        if buf is not None:
            for i in range(len(buf)):
                buf[i] = 0xFF

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


_register(_link_slot, 0)  # slot 0
_register(_link_slot, 1)  # slot 1
_register(_link_slot, 2)  # slot 2
_pins = _static(Pin)
_adcs = _static(ADC)
_connect()
