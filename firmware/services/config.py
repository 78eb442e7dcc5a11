"""Settings: the stored changes over the schema's defaults (core/settings.py), kept in
atomic JSON files: a power cut during a save leaves the old or the new file, never a
broken one (write a temporary file, flush it to flash, rename it over the old one)."""
import json
import os

from firmware.core import settings
from firmware.services.log import ERROR

PATH = "config.json"

def _sync():
    try:
        os.sync()
    except AttributeError:  # the unix port has no os.sync; rename is atomic there
        pass


def save_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    _sync()
    os.rename(tmp, path)
    _sync()


def load_json(path, default=None):
    """The file's object, `default` if it does not exist; ValueError if it is corrupt."""
    try:
        with open(path) as f:
            return json.load(f)
    except OSError:
        return default

class Config:
    def __init__(self, log, path=PATH):
        self.log = log
        self.path = path
        self.values = settings.defaults()

    def load(self):
        try:
            stored = load_json(self.path, {})
        except ValueError:
            self.log.add(ERROR, "%s is corrupt: using defaults" % self.path)
            stored = {}
        self.values, errors = settings.merge(stored)
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
        values = dict(self.values)
        values.update(clean)
        defaults = settings.defaults()
        save_json(self.path, {k: values[k] for k in values if values[k] != defaults.get(k)})
        self.values = values
        return {}
