"""The SD card slot: the manual's "USB settings" on the board's removable storage.

- "Allow USB init" (`sd.allow_init`): a card inserted empty gets the configuration
  (CFG/config.json, the web's export without secrets) and the data log (LOG/log.txt).
- "Allow USB config" (`sd.allow_config`): a card with CFG/config.json has it applied,
  checked like the web's import (platform/configdoc.py): all or nothing, a bad file
  changes nothing and the log says why.

The slot is polled every 2 s; a card is started, mounted at /sd, and unmounted when
it stops answering. A card that fails (full, unformatted, an error) is logged once and
left alone until it is taken out. Nothing happens while the relay is closed: an import saves the
settings to flash, and the card can wait for the session's end. Every card error is
logged and the card dropped; it never reaches the charging tasks. Imported only on a
board with a slot (`SD_CS`) and with one of the two settings on.
"""
import asyncio
import json
import os

from micropython import const

from firmware.drivers.sdcard import SDCard
from firmware.services.platform.log import ERROR, INFO

MOUNT = "/sd"
CONFIG = "CFG/config.json"
LOG = "LOG/log.txt"
_POLL_MS = const(2000)
_MAX_CONFIG = const(16384)  # as the web's import
_ENOSPC = const(28)
_SYSTEM = ("System Volume Information",)


def _reason(e):
    code = e.args[0] if e.args else 0
    return "the card is full" if code == _ENOSPC else \
        "the card does not answer (removed?)" if code in (5, 19) else "error %s" % (e,)


class SdSlot:
    def __init__(self, app):
        self.app = app
        self.log = app.log
        self.card = SDCard(app.hw.spi, app.hw.sd_cs)
        self.mounted = False
        self.failed = False  # a card that failed stays in the slot: wait for its removal
        self.state = "empty"  # or "busy", "ready", "error: ..." (for the status)

    async def run(self):
        while True:
            await asyncio.sleep_ms(_POLL_MS)
            if self.app.control.charger.relay:
                continue
            try:
                if self.mounted or self.failed:
                    if not self.card.present():
                        self._unmount()
                        self.failed = False
                        self.state = "empty"
                        self.log.add(INFO, "SD card removed")
                else:
                    await self._insert()
            except Exception as e:  # noqa: BLE001 - a card must not stop the charger
                self._fail(_reason(e))

    def _fail(self, reason):
        """Drop the card and leave it alone until it is taken out (one message, not one
        every poll)."""
        self._unmount()
        self.failed = True
        self.state = "error: " + reason
        self.log.add(ERROR, "SD card: " + reason)

    async def _insert(self):
        try:
            for _ in self.card.start():
                await asyncio.sleep_ms(10)
        except OSError:
            return  # no card (or not one that starts): try again at the next poll
        import vfs
        try:
            vfs.mount(vfs.VfsFat(self.card), MOUNT)
        except OSError:
            self._fail("no FAT file system on it (format it as FAT32)")
            return
        self.mounted = True
        self.state = "busy"
        self.log.add(INFO, "SD card inserted (%d MB)" % (self.card.sectors // 2048))
        cfg = self.app.config
        names = [n for n in os.listdir(MOUNT) if n not in _SYSTEM]
        if not names:
            if cfg.get("sd.allow_init"):
                await self._save()
            else:
                self.log.add(INFO, "SD card empty: nothing saved (Allow USB init is off)")
        elif "CFG" in names and cfg.get("sd.allow_config"):
            await self._apply()
        else:
            self.log.add(INFO, "SD card not empty: nothing saved, nothing applied")
        self.state = "ready"

    def _unmount(self):
        if self.mounted:
            self.mounted = False
            try:
                import vfs
                vfs.umount(MOUNT)
            except OSError:
                pass

    async def _save(self):
        """The configuration, then the log; each to a .tmp name renamed when complete,
        so a card pulled out or full leaves no file that looks whole."""
        from firmware.services.platform import configdoc
        from firmware.services.platform.update import running_version
        a = self.app
        a.datalog.flush()
        for d in ("CFG", "LOG"):
            os.mkdir(MOUNT + "/" + d)
        doc = configdoc.export_doc(a, running_version())
        self._write(CONFIG, json.dumps(doc))
        path = MOUNT + "/" + LOG
        n = 0
        with open(path + ".tmp", "w") as f:
            for chunk in a.datalog.chunks():
                f.write(chunk)
                n += len(chunk)
                await asyncio.sleep_ms(0)  # each chunk: others run between
        os.rename(path + ".tmp", path)
        self.log.add(INFO, "SD card: configuration and log saved (%d bytes of log)" % n)

    def _write(self, name, text):
        path = MOUNT + "/" + name
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.rename(path + ".tmp", path)

    async def _apply(self):
        from firmware.services.platform import configdoc
        path = MOUNT + "/" + CONFIG
        try:
            if os.stat(path)[6] > _MAX_CONFIG:
                raise ValueError("larger than %d bytes" % _MAX_CONFIG, {})
            with open(path) as f:
                doc = json.load(f)
            restart, ignored = await configdoc.import_doc(self.app, doc, "SD card")
        except OSError as e:
            if e.args and e.args[0] == 2:  # ENOENT
                self.log.add(ERROR, "SD card: %s not found, nothing applied" % CONFIG)
                return
            raise
        except ValueError as e:  # bad JSON, or refused settings: nothing changed
            reason = e.args[0] if e.args else "not JSON"
            detail = e.args[1] if len(e.args) > 1 else {}
            self.log.add(ERROR, "SD card: %s refused, nothing changed: %s%s" % (
                CONFIG, reason if isinstance(reason, str) else "not JSON",
                "".join("; %s: %s" % (k, detail[k]) for k in detail)))
            self.state = "ready"
            return
        self.log.add(INFO, "SD card: configuration applied from %s%s" % (
            CONFIG, " (a restart completes it)" if restart else ""))
        if ignored:
            self.log.add(INFO, "SD card: unknown settings ignored: " + ", ".join(ignored))
