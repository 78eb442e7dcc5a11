"""Atomic JSON files: a power cut during a save leaves the old or the new file, never a
broken one (write a temporary file, flush it to flash, rename it over the old one)."""
import json
import os


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
