"""No file system writes while the relay is closed.

A flash sector erase holds the boards' CPUs for 45 ms typically and up to 400 ms, with
code fetches and interrupts off (docs/decisions.md): longer than the relay keep-alive's
drop-out, so an erase while charging would drop the relay, and littlefs may erase on any
write. So while the relay is closed:

- `save_json` records (settings, cards, the backend's state and energy register, the
  transaction queue's acknowledgements, the MQTT energy total) are held in RAM, the
  latest per file, and `load_json` returns the held one;
- the transaction queue keeps its new lines in RAM (backend.TxQueue);
- the data log keeps its entries in its bounded RAM batch (datalog.DataLog).

What must survive a power cut during the session is also programmed into a journal on a
raw flash partition (drivers/journal.py: page programs only, about 1 ms each): every
held record and every held queue line, in order. When the relay is open again `settle()`
writes the held records and lines to their files and erases the journal; at boot
`recover()` applies a journal a power cut left behind, before anything reads its files.
The core's `flash_busy` input keeps the relay from closing while a file is written.
"""
import json
import os
from time import ticks_diff, ticks_ms

from micropython import const

from firmware.services.platform.log import ERROR

_SET = const(0x53)  # "S": path \n json text: the file's whole new record
_APPEND = const(0x41)  # "A": path \n size before \n line: a line appended to a file
_CUT = const(0x43)  # "C": path \n size: the lines appended so far are not wanted

control = None  # charging/control.Control (app.py); None: no relay here (tools, tests)
journal = None  # a drivers.journal.Journal, or None: held writes live in RAM only
log = None
held = {}  # path -> json text of the latest record saved while the relay was closed
on_open = []  # functions that write what their service held, called by settle()
_full = [False]  # the journal's "full" was logged this session
_depth = [0]  # begin() calls not yet ended
_held = [False]  # something was held since the last settle()


def begin():
    """True if a file may be written now; then call end() after the write. The busy
    flag goes up before the relay is looked at: a tick between the two sees it and
    does not close the relay (the core's flash_busy input)."""
    k = control
    if k is None:
        return True
    if _depth[0]:  # a write inside a write (the queue's acknowledgement)
        _depth[0] += 1
        return True
    k.charger.flash_busy = True
    if k.hw.relay.closed:
        k.charger.flash_busy = False
        return False
    _depth[0] = 1
    return True


def end():
    if control is not None:
        _depth[0] -= 1
        if not _depth[0]:
            control.charger.flash_busy = False


async def wait_open(ms, poll_ms=10):
    """For a writer that has just ended charging (an update sets charger.updating):
    True once the relay is open, False after `ms`. It asks the gate every `poll_ms` and
    sleeps between: the other tasks run meanwhile (it used to spin on the event loop
    for up to `ms`, holding the web server, the backend and the meter)."""
    import asyncio
    t0 = ticks_ms()
    while not begin():
        if ticks_diff(ticks_ms(), t0) > ms:
            return False
        await asyncio.sleep_ms(poll_ms)
    end()
    return True


def _record(kind, text):
    j = journal
    if j is None:
        return
    if not j.append(kind, text.encode()) and not _full[0]:
        _full[0] = True
        if log is not None:
            log.add(ERROR, "flash journal full: writes held in RAM until the relay opens")


def hold(path, text):
    """Keep a record (json text) of `path` until the relay opens; journalled."""
    held[path] = text
    _held[0] = True
    _record(_SET, "%s\n%s" % (path, text))


def held_text(path):
    return held.get(path)


def hold_line(path, size, line):
    """Journal a line appended to `path` (then `size` bytes long on flash) while the
    relay is closed; the writer keeps it in RAM and writes it from its on_open."""
    _held[0] = True
    _record(_APPEND, "%s\n%d\n%s" % (path, size, line))


def forget(paths):
    """A factory reset (the relay open): nothing held or journalled for `paths` may
    come back. The journal cannot lose single records, so it is erased, and the
    services' held lines go (the app restarts next)."""
    for p in paths:
        held.pop(p, None)
    on_open[:] = []
    if journal is not None and journal.used() and begin():
        try:
            journal.erase()
        finally:
            end()


def hold_cut(path, size):
    """The lines held for `path` so far are not to be written (all delivered)."""
    _record(_CUT, "%s\n%d\n" % (path, size))


def settle(write_json):
    """Relay open: write everything held, then erase the journal. `write_json(path,
    text)` writes one record (config.save_json's own writer). Returns False if the relay
    is closed."""
    if not (_held[0] or (journal is not None and journal.used())):
        return True
    if not begin():
        return False
    try:
        for path in list(held):
            try:
                write_json(path, held[path])
            except OSError as e:
                _error("%s not saved: %s" % (path, e))
            del held[path]
        for f in on_open:
            try:
                f()
            except OSError as e:
                _error("held lines not written: %s" % e)
        if journal is not None:
            journal.erase()
        _full[0] = False
        _held[0] = False
    finally:
        end()
    return True


def _error(text):
    if log is not None:
        log.add(ERROR, text)


def _append_from(path, size, lines):
    """`path` cut to `size` bytes, then `lines` appended: the same file whether or not
    settle() wrote some of them before the power went (written to a copy, renamed)."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as out:  # in bytes: `size` is (a line may hold UTF-8 sequences)
        try:
            with open(path, "rb") as f:
                left = size
                while left > 0:
                    s = f.read(min(left, 512))
                    if not s:
                        break
                    out.write(s)
                    left -= len(s)
        except OSError:
            pass
        for line in lines:
            out.write(line.encode())
    os.rename(tmp, path)


def recover(write_json):
    """At boot, the relay open: apply the journal a power cut left, in order, then
    erase it; the number of records. `write_json(path, text)` writes one record."""
    j = journal
    if j is None:
        return 0
    sets = {}
    lines = {}  # path -> [size on flash before the first, lines...]
    n = 0
    for kind, payload in j.records():
        text = bytes(payload).decode()
        path, _, rest = text.partition("\n")
        if kind == _SET:
            sets[path] = rest
        elif kind == _APPEND:
            size, _, line = rest.partition("\n")
            if path not in lines:
                lines[path] = [int(size)]
            lines[path].append(line)
        elif kind == _CUT:
            lines[path] = [int(rest.partition("\n")[0])]
        n += 1
    for path in lines:
        _append_from(path, lines[path][0], lines[path][1:])
    for path in sets:
        try:
            json.loads(sets[path])
        except ValueError:  # past its CRC: not ours; the file keeps what it had
            _error("flash journal: bad record for %s" % path)
            continue
        write_json(path, sets[path])
    if j.used():
        j.erase()
    return n


async def run(write_json, period_ms=250):
    """The task that writes what was held once the relay is open."""
    import asyncio
    while True:
        settle(write_json)
        await asyncio.sleep_ms(period_ms)
