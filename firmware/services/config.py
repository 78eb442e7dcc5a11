"""Settings: the stored changes over the schema's defaults (core/settings.py)."""
from firmware.core import settings
from firmware.services import log as logmod
from firmware.services.store import load_json, save_json

PATH = "config.json"


class Config:
    def __init__(self, log, path=PATH):
        self.log = log
        self.path = path
        self.values = settings.defaults()

    def load(self):
        try:
            stored = load_json(self.path, {})
        except ValueError:
            self.log.add(logmod.ERROR, "%s is corrupt: using defaults" % self.path)
            stored = {}
        self.values, errors = settings.merge(stored)
        for k in errors:
            self.log.add(logmod.ERROR, "setting %s ignored: %s" % (k, errors[k]))
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
