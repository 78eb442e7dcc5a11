"""Settings and other small records on flash, kept so that a power cut at any moment
leaves the old or the new content, never a broken one.

`save_json` writes a temporary file with a CRC-32 of its content, flushes it to flash,
keeps the previous file as `.bak` and renames the new one into place (rename is atomic
on littlefs and on the VM's POSIX files). `load_json` checks the CRC and falls back to
the `.bak` copy when the file is missing or corrupt. The settings file carries a schema
version; older files are migrated on load. The provisioning record (serial number,
label secrets, board type) is a separate file that a factory reset keeps.
"""
import json
import os

from micropython import const

from firmware.core import record, settings
from firmware.core.settings import BOOL, INT, KEY, NAME, STR
from firmware.services.platform import flashgate
from firmware.services.platform.log import ERROR, INFO

PATH = "config.json"
PROV = "prov.json"
_VERSION = const(2)  # of the settings file: 1 = a bare {key: value} object, 2 = {"v", "s"}
# The services' files of the user's, which a factory reset deletes whether or not the
# service runs now (the backend switched off, the web pages short of RAM: their files
# are still there from before). A service also adds its file to Config.user_files.
_USER = ("web.json", "cards.json", "ocpp.json", "ocpplist.json", "txq/queue", "txq.ack")

# The platform's settings (networking, time, updates); the web pages hold the labels.
settings.extend({
    "net.hotspot": (BOOL, True, None, None),
    "net.hotspot_ssid": (STR, "", 0, 32),  # "" = the serial number
    "net.hotspot_password": (KEY, "", 8, 63),  # "" = the provisioned one
    "net.channel": (INT, 11, 1, 13),
    "net.wifi": (BOOL, False, None, None),
    "net.wifi_ssid": (STR, "", 0, 32),
    "net.wifi_password": (KEY, "", 8, 63),  # "" = an open network
    "net.lan_dhcp": (BOOL, False, None, None),
    "net.hostname": (STR, "", 0, 32),  # "" = "wallbox-" + serial
    "time.ntp": (BOOL, True, None, None),
    "time.ntp_server": (NAME, "pool.ntp.org", 1, 64),
    "time.utc_offset_min": (INT, 60, -720, 840),
    "update.healthy_s": (INT, 60, 5, 3600),  # normal running that confirms a new version
    "update.trial_boots": (INT, 3, 1, 10),  # boots a new version gets to become healthy
    "update.url": (settings.WEB, "", 0, 200),  # the release record (net/release.py)
    # the manual's "USB settings", on the SD card slot (storage/slot.py)
    "sd.allow_init": (BOOL, False, None, None),  # an empty card gets config and log
    "sd.allow_config": (BOOL, False, None, None),  # a card's CFG/config.json is applied
})


def _sync():
    try:
        os.sync()
    except AttributeError:  # the unix port has no os.sync; rename is atomic there
        pass


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


def save_json(path, obj):
    """Save `obj` atomically with a checksum; the previous content stays in path.bak.
    While the relay is closed the record waits in RAM (and in the flash journal) until
    it opens (services/platform/flashgate.py); load_json returns it meanwhile."""
    text = json.dumps(obj)
    if not flashgate.begin():
        flashgate.hold(path, text)
        return
    try:
        write_json(path, text)
    finally:
        flashgate.end()


def write_json(path, text):
    """save_json's writer: the JSON `text` as a record, now."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(record.header(text))  # the format: core/record.py
        f.write(text)
        f.write(record.TAIL)
    _sync()
    try:
        os.rename(path, path + ".bak")
    except OSError:  # the first save
        pass
    os.rename(tmp, path)
    _sync()


def _read(path):
    """The object in one file; OSError if missing, ValueError if corrupt."""
    with open(path) as f:
        return record.decode(f.read())


def load_json(path, default=None, log=None):
    """The file's object, `default` if it does not exist; ValueError if it is corrupt
    and no good `.bak` copy exists (then the copy's object is returned, and logged)."""
    text = flashgate.held_text(path)
    if text is not None:
        return json.loads(text)
    try:
        return _read(path)
    except OSError:
        why = None
    except (ValueError, IndexError) as e:
        why = str(e) or "unreadable"
    try:
        obj = _read(path + ".bak")
    except OSError:
        if why is None:
            return default
        raise ValueError(why)
    except (ValueError, IndexError):
        raise ValueError(why or "only a corrupt .bak copy")
    if log is not None and why is not None:
        log.add(ERROR, "%s corrupt (%s): using the last good copy" % (path, why))
    return obj


def load_prov(path=PROV):
    """The provisioning record: serial, hotspot_password, recovery_password, board, key."""
    try:
        p = load_json(path, {})
    except ValueError:
        p = {}
    if not p.get("serial"):
        try:
            import machine
            uid = machine.unique_id()
        except (ImportError, AttributeError):
            uid = b"\0"
        p["serial"] = "UNPROV-" + "".join("%02X" % b for b in uid[-4:])
    return p


def _migrate(stored):
    """Bring a stored settings object up to _VERSION; returns the {key: value} dict."""
    if not isinstance(stored, dict):
        return {}
    v = stored.get("v") if "s" in stored else 1
    if v == 1:
        stored = {"v": 2, "s": stored}  # version 1 stored the changes bare
    return stored.get("s") if isinstance(stored.get("s"), dict) else {}


class Config:
    def __init__(self, log, path=PATH):
        self.log = log
        self.path = path
        self.values = settings.defaults()
        self.prov = {}
        self.user_files = [path] + list(_USER)  # wiped by a factory reset
        self.on_change = None  # called after each saved change (App.settings_changed)

    def load(self):
        self.prov = load_prov()
        if self.prov["serial"].startswith("UNPROV"):
            self.log.add(ERROR, "not provisioned: run tools/provision.py")
        try:
            stored = load_json(self.path, {}, self.log)
        except ValueError as e:
            self.log.add(ERROR, "%s is corrupt (%s): using defaults" % (self.path, e))
            stored = {}
        self.values, errors = settings.merge(_migrate(stored))
        for k in errors:
            self.log.add(ERROR, "setting %s ignored: %s" % (k, errors[k]))
        return self.values

    def get(self, key):
        return self.values[key]

    def update(self, changes):
        """Validate and save `changes`; returns {key: reason} and changes nothing on error."""
        clean, errors = settings.validate(changes)
        if errors:
            return errors
        self.save(clean)
        return {}

    def save(self, clean):
        """Save checked changes (settings.validate's clean dict)."""
        values = dict(self.values)
        values.update(clean)
        defaults = settings.defaults()
        save_json(self.path, {"v": _VERSION, "s": {k: values[k] for k in values
                                                  if values[k] != defaults.get(k)}})
        self.values = values
        if self.on_change is not None:
            self.on_change()

    def factory_reset(self):
        """Forget the settings and the services' user files; provisioning, the software
        and the data log stay (docs/web.md)."""
        flashgate.forget(self.user_files)  # held or journalled: none of it comes back
        for p in self.user_files:
            for suffix in ("", ".bak", ".tmp"):
                _remove(p + suffix)
        self.values = settings.defaults()
        self.log.add(INFO, "factory reset")
