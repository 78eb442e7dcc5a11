"""The data log on flash: every log entry (events, faults with codes, sessions, reboots
with their reset cause) in a bounded ring of segment files that survives restarts.

Entries are batched in RAM and appended at most every 30 s (faults, errors and sessions
within a second), so the flash sees a few writes per minute at most, and none while the
relay is closed: then they wait in RAM (at most 128 entries; more are counted as
dropped and the count logged) until it opens (services/platform/flashgate.py). A segment holds
about 4 KB of text lines "seq<TAB>time<TAB>kind<TAB>text"; when it is full the next one
is started and the oldest beyond the ring's size is deleted. Time is the local clock
once it is set (network time, backend, browser), otherwise "+<s>" since the boot.
"""
import asyncio
import os
import time
from time import ticks_diff, ticks_ms

from micropython import const

from firmware.services.platform import flashgate
from firmware.services.platform.log import INFO, SESSION

_FLUSH_MS = const(30000)  # an info entry waits at most this long for its write
_URGENT_MS = const(1000)  # faults, errors and sessions
_MAX_PENDING = const(64)  # more unwritten entries than this: write now
_CAUSES = const((("PWRON_RESET", "power-on"), ("HARD_RESET", "hard reset"),
                 ("WDT_RESET", "watchdog"), ("DEEPSLEEP_RESET", "deep sleep"),
                 ("SOFT_RESET", "soft reset")))

utc_offset_s = 0  # set from the configuration by the app
clock_offset_s = 0  # where the clock cannot be set (the VM): network time minus time.time()


def stamp():
    """The local time as text, or the seconds since boot while the clock is not set."""
    t = time.time() + clock_offset_s
    if time.gmtime(t)[0] < 2025:  # never set (the boards start in 2000 or 1970)
        return "+%d" % (ticks_ms() // 1000)
    y, mo, d, h, mi, s = time.gmtime(t + utc_offset_s)[:6]
    return "%04d-%02d-%02d %02d:%02d:%02d" % (y, mo, d, h, mi, s)


def cause_name(cause):
    import machine
    for attr, name in _CAUSES:
        if getattr(machine, attr, None) == cause:
            return name
    return "unknown (%s)" % cause


class DataLog:
    def __init__(self, log, path="log", segments=8, seg_bytes=4096):
        self.path = path
        self.segments = segments
        self.seg_bytes = seg_bytes
        self.pending = []
        self.dropped = 0
        self._first = 0  # when the oldest pending entry came
        self._urgent = False
        try:
            os.mkdir(path)
        except OSError:
            pass
        segs = self._segs()
        self.seg = segs[-1] if segs else 0
        self.size = 0
        self.seq = 0
        if segs:
            try:
                self.size = os.stat(self._name(self.seg))[6]
                with open(self._name(self.seg)) as f:
                    for line in f:
                        if line[-1:] != "\n":  # torn by a power cut: start a new segment
                            self.size = seg_bytes
                            break
                        self.seq = int(line.split("\t", 1)[0])
            except (OSError, ValueError):
                pass
        self.log = log
        log.sinks.append(self.add)

    def _name(self, n):
        return "%s/%d" % (self.path, n)

    def _segs(self):
        out = []
        for name in os.listdir(self.path):
            if name.isdigit():
                out.append(int(name))
        out.sort()
        return out

    # ------------------------------------------------------------------ writing
    def add(self, entry):
        """The log's sink: queue an entry (seq, ticks, kind, text) for the next write."""
        if len(self.pending) >= 2 * _MAX_PENDING:
            self.dropped += 1
            return
        self.seq += 1
        if not self.pending:
            self._first = ticks_ms()
        kind = entry[2]
        if kind != INFO:
            self._urgent = True
        text = entry[3].replace("\n", " | ").replace("\t", " ")
        self.pending.append("%d\t%s\t%s\t%s\n" % (self.seq, stamp(), kind, text))

    def boot(self, cause):
        self.log.add(INFO, "boot: reset cause %s" % cause_name(cause))

    def session(self, event, energy_wh=None, card=None):
        """A charging session record: event 'start' or 'end', energy and card if known."""
        text = "charging session %s" % event
        if energy_wh is not None:
            text += ": %d.%03d kWh" % (energy_wh // 1000, energy_wh % 1000)
        if card:
            text += ", by card %s" % card
        self.log.add(SESSION, text)

    def flush(self):
        """Write the pending entries now (before a restart, or from the task); False
        while the relay is closed (they wait: services/platform/flashgate.py)."""
        if not flashgate.begin():
            return False
        try:
            self._write()
        finally:
            flashgate.end()
        return True

    def _write(self):
        if self.dropped:
            self.pending.append("%d\t%s\terror\t%d log entries dropped\n" % (
                self.seq, stamp(), self.dropped))
            self.dropped = 0
        while self.pending:
            if self.size >= self.seg_bytes:
                self.seg += 1
                self.size = 0
                for n in self._segs():
                    if n <= self.seg - self.segments:
                        os.remove(self._name(n))
            lines = self.pending
            self.pending = []
            with open(self._name(self.seg), "a") as f:
                for line in lines:
                    f.write(line)
                    self.size += len(line)
        self._urgent = False

    async def run(self, period_ms=250):
        while True:
            if self.pending:
                age = ticks_diff(ticks_ms(), self._first)
                if age >= _FLUSH_MS or len(self.pending) >= _MAX_PENDING or \
                        (self._urgent and age >= _URGENT_MS):
                    self.flush()
            await asyncio.sleep_ms(period_ms)

    # ------------------------------------------------------------------ reading
    def newest(self, limit=200, kind=None):
        """The last `limit` lines, newest first (for the web page); only `kind`'s if given."""
        tag = "\t%s\t" % kind if kind else "\t"  # entry texts hold no tabs (see add)
        out = [x for x in reversed(self.pending) if tag in x]
        for n in reversed(self._segs()):
            if len(out) >= limit:
                break
            try:
                with open(self._name(n)) as f:
                    lines = f.readlines()
            except OSError:
                continue
            lines.reverse()
            out.extend(x for x in lines if tag in x)
        return out[:limit]

    def chunks(self, size=512):
        """The whole log, oldest first, as text chunks ("Download All")."""
        for n in self._segs():
            try:
                with open(self._name(n)) as f:
                    while True:
                        s = f.read(size)
                        if not s:
                            break
                        yield s
            except OSError:
                continue
        for line in self.pending:
            yield line
