"""Software update: a bundle is streamed into the spare slot and verified, boot.py
switches to it at the next start, and the new version confirms itself once healthy or
is rolled back (see docs/update.md for the bundle format and key handling).

    u = Updater(log, charger, board_name, key)   # key: 32-byte Ed25519 public key or None
    await u.begin(total_size); u.write(chunk) ...; version = await u.finish()
    await net.download.install_from_url(u, "http://host/wallbox-1.2.0.wbx")

Every refusal raises UpdateError with the reason and leaves the running slot, its files
and update.json untouched; the refused slot is removed in the background, in steps
(`cleared()` waits for it). Imported only when an update runs or a new version is on
trial, so it costs no RAM otherwise.
"""
import asyncio
import gc
import hashlib
import json
import os
from binascii import hexlify
from time import ticks_diff, ticks_ms

from micropython import const

from firmware.services.platform import flashgate
from firmware.services.platform.config import load_json, save_json
from firmware.services.platform.log import ERROR, INFO
from firmware.services.platform.supervisor import stepwise

STATE = "update.json"  # {"active": slot, "version"} or on trial also "prev", "boots", "max"
MAGIC = b"WBX1"
_SIG = const(64)
_MAX_MANIFEST = const(16384)
_MAX_BUNDLE = const(2097152)
_ROOM = const(32768)  # flash left free after staging
_TOPS = ("firmware/", "lib/", "www/")


class UpdateError(Exception):
    pass


class UpdateBusy(UpdateError):
    """Not now: another update is running, or the version on trial is not confirmed."""


def refusal():
    """Why no update may start now, or None: one update at a time (the web's upload, its
    online update and the backend's all write the one spare slot), and none while a
    version is on trial (the spare slot holds the version to roll back to)."""
    if Updater.running is not None:
        return "another update is running: try again once it has finished"
    st = state()
    if "max" in st:
        return "version %s is on trial: an update can start once it is confirmed " \
            "healthy" % st.get("version")
    return None


def state():
    try:
        return load_json(STATE, {})
    except ValueError:
        return {}


def version_key(v):
    out = []
    for part in str(v).split("-")[0].split("."):
        out.append(int(part) if part.isdigit() else 0)
    return out


def running_version(st=None):
    st = state() if st is None else st
    try:
        with open((st.get("active") or ".") + "/manifest.json") as f:
            return json.load(f).get("version", "0.0.0")
    except (OSError, ValueError):
        return "0.0.0"  # a development install (copied, no manifest)


def _removal(path):
    """Remove the tree at `path`, one file or directory per step (a stepping generator,
    run by _remove): a slot of a few hundred files is not removed in one hold
    of the event loop."""
    try:
        entries = list(os.ilistdir(path))
    except OSError:
        return
    for e in entries:
        p = path + "/" + e[0]
        if e[1] == 0x4000:
            yield from _removal(p)
        else:
            os.remove(p)
            yield
    os.rmdir(path)
    yield


# The clearing of a refused slot (a Task), started by abort() and awaited by the next
# begin(): an upload never starts into a slot still being cleared. The slot being cleared
# is never the active one in update.json, so boot.py never starts a half-cleared slot.
_clearing = None


async def _remove(path):
    """Remove the tree at `path` step by step, each step through the flash gate: after a
    refusal charging may go on, and no erase happens while the relay is closed (the
    rest waits for the session's end; the slot is not booted meanwhile)."""
    steps = _removal(path)
    while True:
        while not flashgate.begin():
            await asyncio.sleep_ms(500)
        try:
            next(steps)
        except StopIteration:
            return
        finally:
            flashgate.end()
        await asyncio.sleep_ms(0)


async def _clear_after(before, path):
    if before is not None:
        await before  # one clearing at a time
    try:
        await _remove(path)
    except OSError:
        pass  # the next begin() clears the slot again, from what is left


def _clear_later(path):
    global _clearing
    _clearing = asyncio.create_task(_clear_after(_clearing, path))


async def cleared():
    """Wait (yielding) until no refused slot is being cleared."""
    global _clearing
    while _clearing is not None:
        job = _clearing
        await job
        if _clearing is job:
            _clearing = None


def _makedirs(path):
    d = ""
    for part in path.split("/")[:-1]:
        d = d + part + "/"
        try:
            os.mkdir(d[:-1])
        except OSError:
            pass


def _free():
    try:
        s = os.statvfs(".")
        return s[0] * s[3]
    except (OSError, AttributeError):
        return _MAX_BUNDLE


class Updater:
    running = None  # the Updater writing the spare slot (refusal())

    def __init__(self, log, charger=None, board=None, key=None):
        self.log = log
        self.charger = charger
        self.board = board
        self.key = key
        self.progress = 0  # bytes received of `total`
        self.total = 0
        self.force = False
        self.slot = None

    # ------------------------------------------------------------------ streaming
    async def begin(self, total, force=False):
        """Announce a bundle of `total` bytes: the spare slot is cleared (step by step,
        after any clearing still under way) and opened for write()."""
        busy = refusal()
        if busy:
            self.log.add(ERROR, "update refused: " + busy)
            raise UpdateBusy(busy)
        room = min(_free() - _ROOM, _MAX_BUNDLE)
        why = "not an update bundle (%d bytes)" % total if total <= len(MAGIC) + 4 + _SIG else \
            "bundle too large: %d bytes, room for %d" % (total, room) if total > room else None
        if why:
            self.log.add(ERROR, "update refused: " + why)
            raise UpdateError(why)
        Updater.running = self  # from here on: a second begin() is refused, and another's
        if self.charger is not None:  # ends charging first: no flash erase while the
            self.charger.updating = True  # relay is closed (platform/flashgate.py)
            # a car that stays in C once the PWM stops is opened under load after
            # suspend_open_ms (core/charger.py): the wait allows that and a second more
            if not await flashgate.wait_open(self.charger.cfg.suspend_open_ms + 1000):
                self.charger.updating = False
                self._idle()
                raise UpdateError("the relay did not open")
        try:
            await cleared()
            st = state()
            self.old = st.get("active", "")
            self.slot = "s0" if self.old == "s1" else "s1"
            await _remove(self.slot)  # an older staged or rolled-back version
            os.mkdir(self.slot)
        except Exception:
            self._idle()
            if self.charger is not None:
                self.charger.updating = False
            raise
        self.force = force
        self.total = total
        self.progress = 0
        self._head = bytearray(8)  # magic and length, later the signature
        self._fill = 0
        self._mfile = None
        self.manifest = None
        self._file = None
        self.log.add(INFO, "update: receiving %d bytes" % total)

    def write(self, chunk):
        """Take the next piece of the bundle; UpdateError (and nothing kept) if it is bad."""
        rest = self.write_some(chunk)
        while rest is not None:
            rest = self.write_some(rest)

    def write_some(self, chunk):
        """write() up to the end of the first file the piece completes (closing and
        checking a file and opening the next is a few ms on the VM: a step's worth);
        returns the rest, or None once all is taken (issue 21)."""
        if not self.busy:
            raise UpdateError("no update in progress")
        try:
            return self._take(memoryview(chunk))
        except UpdateError as e:
            self.abort(str(e))
            raise
        except Exception as e:  # noqa: BLE001 - out of memory, flash full: nothing kept
            self.abort(repr(e))
            raise UpdateError(repr(e))

    def _take(self, mv):
        if self.progress + len(mv) > self.total:
            raise UpdateError("bundle longer than announced (%d bytes)" % self.total)
        self.progress += len(mv)
        while len(mv):
            if self.manifest is None:
                mv = self._header(mv)
                continue
            mv = self._payload(mv)
            if self._file is None and len(mv):  # a file closed: the rest is the next call's
                self.progress -= len(mv)
                return mv
        return None

    def _header(self, mv):
        """Magic and length into a small buffer; the manifest straight to a file in the
        slot (hashed on the way: no big buffer that a fragmented heap cannot give);
        then the signature; then the manifest is parsed from the file."""
        h = self._head
        if self._mfile is not None:  # the manifest's bytes
            k = min(self._mleft, len(mv))
            part = mv[:k]
            self._mfile.write(part)
            self._msha.update(part)
            self._mleft -= k
            if self._mleft == 0:
                self._mfile.close()
                self._mfile = None
                self._head = bytearray(_SIG)
                self._fill = 0
            return mv[k:]
        k = min(len(h) - self._fill, len(mv))
        h[self._fill:self._fill + k] = mv[:k]
        self._fill += k
        if self._fill == len(h):
            if len(h) == 8:
                if h[:4] != MAGIC:
                    raise UpdateError("not an update bundle")
                n = int.from_bytes(h[4:8], "little")
                if n > _MAX_MANIFEST:
                    raise UpdateError("manifest too large")
                self._mn = self._mleft = n
                self._msha = hashlib.sha256()
                self._mfile = open(self.slot + "/manifest.json", "wb")
            else:
                self._head = None
                self._manifest(bytes(h))
        return mv[k:]

    def _payload(self, mv):
        if self._file is None:
            if self._index >= len(self.files):
                raise UpdateError("bundle longer than its manifest says")
            path, size, _ = self.files[self._index]
            _makedirs(self.slot + "/" + path)
            self._file = open(self.slot + "/" + path, "wb")
            self._left = size
            self._sha = hashlib.sha256()
        n = min(self._left, len(mv))
        part = mv[:n]
        self._file.write(part)
        self._sha.update(part)
        self._all.update(part)
        self._left -= n
        if self._left == 0:
            self._close_file()
        return mv[n:]

    def _close_file(self):
        self._file.close()
        self._file = None
        path, _, digest = self.files[self._index]
        if hexlify(self._sha.digest()).decode() != digest:
            raise UpdateError("%s: SHA-256 mismatch" % path)
        self._index += 1

    def _manifest(self, sig):
        gc.collect()
        try:
            # json.loads of the whole text, not json.load(f): the stream parser reads a
            # byte per call, 8x slower, and held the event loop ~8 ms for 200 files
            # (issue 21); the text is at most _MAX_MANIFEST, once, right after a collect.
            with open(self.slot + "/manifest.json") as f:
                m = json.loads(f.read())
            files = m["files"]
            version = m["version"]
            size = 8 + self._mn + _SIG + sum(f[1] for f in files)
        except (ValueError, KeyError, TypeError, IndexError):
            raise UpdateError("corrupt manifest")
        if m.get("format") != 1:
            raise UpdateError("unknown bundle format %s" % m.get("format"))
        boards = m.get("boards") or ()
        if self.board is not None and boards and self.board not in boards:
            raise UpdateError("bundle is for %s, this board is %s" % (
                ", ".join(boards), self.board))
        running = running_version()
        if not self.force and version_key(version) < version_key(running):
            raise UpdateError("version %s is older than the running %s" % (version, running))
        if size != self.total:
            raise UpdateError("size mismatch: the manifest says %d bytes, the upload is %d" % (
                size, self.total))
        for f in files:
            p = f[0]
            if ".." in p or p.startswith("/") or not p.startswith(_TOPS) or len(f[2]) != 64:
                raise UpdateError("bad file entry " + p)
        self.manifest = m
        self._mdigest = self._msha.digest()  # what the signature signs
        self.sig = sig
        self.files = files
        self._index = 0
        self._all = hashlib.sha256()

    async def finish(self):
        """Check the whole bundle and its signature, then make it the next boot's slot.
        Returns the new version; UpdateError (nothing changed) if anything is wrong."""
        if not self.busy:
            raise UpdateError("no update in progress")
        try:
            await self._verify()
        except UpdateError as e:
            self.abort(str(e))
            raise
        except Exception as e:  # noqa: BLE001 - out of memory...: nothing kept
            self.abort(repr(e))
            raise UpdateError(repr(e))
        m = self.manifest
        save_json(STATE, {"active": self.slot, "prev": self.old, "version": m["version"],
                          "boots": 0, "max": self.trial_boots})
        self.log.add(INFO, "update: %s verified, active at the next start" % m["version"])
        self._idle()
        return m["version"]

    trial_boots = 3

    @property
    def busy(self):
        """Between begin() and finish() or abort()."""
        return Updater.running is self

    def _idle(self):
        if Updater.running is self:
            Updater.running = None

    async def _verify(self):
        if self.manifest is None or self._index < len(self.files) or \
                self.progress < self.total:
            raise UpdateError("bundle truncated: %d of %d bytes" % (self.progress, self.total))
        if hexlify(self._all.digest()).decode() != self.manifest.get("sha256"):
            raise UpdateError("bundle SHA-256 mismatch")
        signed = self.sig != bytes(_SIG)
        if self.key is None:
            self.log.add(INFO, "update: development device, integrity checked only")
            return
        if not signed:
            raise UpdateError("unsigned bundle: this device accepts signed ones only")
        if not await signature_ok(self.key, self._mdigest, self.sig):
            raise UpdateError("bad signature")

    def abort(self, reason):
        for a in ("_file", "_mfile"):
            f = getattr(self, a, None)
            if f is not None:
                f.close()
                setattr(self, a, None)
        if self.slot:
            _clear_later(self.slot)  # in steps: abort() itself does not hold the event loop
        self._idle()
        if self.charger is not None:
            self.charger.updating = False
        self.log.add(ERROR, "update refused: " + reason)


async def signature_ok(key, digest, sig):
    """Ed25519 over `digest` (SHA-256 of a manifest), yielding to other tasks: bundles
    and release records (net/release.py) alike."""
    from firmware.core import ed25519
    return await stepwise(ed25519.steps(key, digest, sig))


# ---------------------------------------------------------------------- after a boot
def after_boot(app):
    """At start-up: log what boot.py did; True if a new version is on trial. A rollback
    (by boot.py's boot count or by `rollback()`) is left in `app.rolled_back` for the
    backend, which reports it to the central system."""
    st = state()
    note = st.pop("note", None)
    if note:
        app.log.add(ERROR, note)
        app.rolled_back = note
        save_json(STATE, st)
    if "max" in st:
        app.log.add(INFO, "update: version %s on trial, boot %d of %d" % (
            st.get("version"), st.get("boots", 0), st["max"]))
        return True
    return False


def rollback(app, reason):
    st = state()
    msg = "update: version %s rolled back (%s)" % (st.get("version"), reason)
    save_json(STATE, {"active": st.get("prev", ""), "note": msg})
    app.log.add(ERROR, msg)
    app.restart("rollback")


async def watch(app, healthy_s, deadline_s):
    """Confirm the version on trial after `healthy_s` of normal running: control ticks
    advancing, nothing halted, no safe mode. Safe mode or no success by the deadline:
    roll back."""
    t0 = ticks_ms()
    ok_ms = 0
    last = app.control.ticks
    while True:
        await asyncio.sleep_ms(1000)
        c = app.control
        if app.supervisor.safe_mode:
            rollback(app, "safe mode")
            return
        fine = c.ticks != last and c.failed is None and not c.halted and \
            getattr(app, "web_ready", True)
        last = c.ticks
        ok_ms = ok_ms + 1000 if fine else 0
        if ok_ms >= healthy_s * 1000:
            st = state()
            save_json(STATE, {"active": st.get("active", ""), "version": st.get("version")})
            app.log.add(INFO, "update: version %s confirmed healthy" % st.get("version"))
            return
        if ticks_diff(ticks_ms(), t0) > deadline_s * 1000:
            rollback(app, "not healthy within %d s" % deadline_s)
            return
