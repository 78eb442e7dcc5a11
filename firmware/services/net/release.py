"""The online update check (docs/update.md): the configured address (`update.url`)
holds a signed release record naming the newest version, its notes and its bundle;
Download & Install streams that bundle through the Updater exactly as an upload.

A release record is a bundle's head without files: MAGIC, the manifest's length (u32
little-endian), the manifest (JSON: format 1, version, boards, notes, bundle (its
address, relative to the record's), size) and the Ed25519 signature of
SHA-256(manifest) by the same release key, zeros when unsigned (development devices
only, like bundles). Made by `tools/bundle.py release`.

Nothing is fetched while the relay is closed: a TLS handshake holds the interpreter in
C for longer than the relay's keep-alive allows (docs/decisions.md), and an install
ends the session. Imported on use.
"""
import asyncio
import hashlib
import json

from micropython import const

from firmware.services.net.download import absolute, http_get, install_from_url
from firmware.services.net.websocket import close_stream
from firmware.services.platform.log import INFO
from firmware.services.platform.update import UpdateError, running_version, signature_ok, \
    version_key

MAGIC = b"WBR1"
_SIG = const(64)
_MAX_MANIFEST = const(4096)
_NET_MS = const(15000)  # each step of the check
NOT_WHILE_CHARGING = "not while charging: stop the session first"


def _read_exactly(s, n):
    return asyncio.wait_for_ms(s.readexactly(n), _NET_MS)


async def check(url, key, board=None):
    """Fetch and verify the release record at `url`. Returns {"version", "notes",
    "bundle" (absolute), "size", "running", "newer", "signed"}; UpdateError if it cannot
    be fetched, is not a release record or its signature is bad."""
    if not url:
        raise UpdateError("no update address configured")
    s, length = await http_get(url, _NET_MS)
    try:
        if length < 8 + _SIG or length > 8 + _MAX_MANIFEST + _SIG:
            raise UpdateError("not a release record (%d bytes)" % length)
        head = await _read_exactly(s, 8)
        n = int.from_bytes(head[4:8], "little")
        if head[:4] != MAGIC or 8 + n + _SIG != length:
            raise UpdateError("not a release record")
        raw = await _read_exactly(s, n)
        sig = await _read_exactly(s, _SIG)
    except (OSError, asyncio.TimeoutError, EOFError) as e:
        raise UpdateError("release record truncated (%s)" % (
            "stalled" if isinstance(e, asyncio.TimeoutError) else str(e) or "connection closed"))
    finally:
        await close_stream(s)
    signed = sig != bytes(_SIG)
    if key is not None:
        if not signed:
            raise UpdateError("unsigned release record: this device accepts signed ones only")
        if not await signature_ok(key, hashlib.sha256(raw).digest(), sig):
            raise UpdateError("bad signature")
    try:
        m = json.loads(raw)
        version = str(m["version"])
        size = m["size"]
        bundle = absolute(url, m["bundle"])
        notes = str(m.get("notes", ""))
        boards = m.get("boards") or ()
    except (ValueError, KeyError, TypeError, AttributeError):
        raise UpdateError("corrupt release record")
    if m.get("format") != 1 or not isinstance(size, int):
        raise UpdateError("unknown release record format")
    if board is not None and boards and board not in boards:
        raise UpdateError("the release is for %s, this board is %s" % (", ".join(boards), board))
    running = running_version()
    return {"version": version, "notes": notes, "bundle": bundle, "size": size,
            "running": running, "newer": version_key(version) > version_key(running),
            "signed": signed}


class Install:
    """One Download & Install in the background: `state` is "downloading", "failed"
    (with `error`) or "installed"; the Updater's progress/total for a progress bar."""

    def __init__(self, app, release):
        self.app = app
        self.release = release
        self.updater = app.updater()
        self.state = "downloading"
        self.error = ""
        self.timeout_s = _NET_MS // 1000  # each read of the download

    def status(self):
        u = self.updater
        return {"state": self.state, "version": self.release["version"],
                "progress": u.progress, "total": u.total or self.release["size"],
                "error": self.error}

    async def run(self, restart_ms=500):
        try:
            version = await install_from_url(self.updater, self.release["bundle"],
                                             size=self.release["size"],
                                             timeout_s=self.timeout_s)
        except Exception as e:  # noqa: BLE001 - UpdateError; anything else: nothing kept
            if self.updater.busy:
                self.updater.abort(repr(e))
            self.state = "failed"
            self.error = str(e) if isinstance(e, UpdateError) else repr(e)
            self.app.log.add(INFO, "update: the running version %s stays" % running_version())
            return
        self.state = "installed"
        await asyncio.sleep_ms(restart_ms)  # the status answer goes out first
        self.app.restart("software update to " + version)
