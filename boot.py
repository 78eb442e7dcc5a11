# Runs first at power-up: picks the software slot, opens the relay, and decides whether
# main.py starts the app. Software updates never replace this file (see docs/update.md).
import gc

gc.threshold(4096)  # collect often while importing: less fragmentation (app.main raises it)
SAFE_BOOT = False  # the service button was held at power-up: REPL only, no app
TRIAL = False  # a new software version is on trial: if it fails, reset (and roll back)
_STATE = "update.json"


def _read(name):
    """A record (firmware/core/record.py, as config.save_json writes it), checked; None if
    unusable."""
    from firmware.core import record

    for path in (name, name + ".bak"):
        try:
            with open(path) as f:
                return record.decode(f.read())
        except (OSError, ValueError, IndexError):
            pass
    return None


def _write(name, obj):
    import json
    import os

    from firmware.core import record

    t = json.dumps(obj)
    with open(name + ".tmp", "w") as f:
        f.write(record.header(t))
        f.write(t)
        f.write(record.TAIL)
    os.rename(name + ".tmp", name)


def _forget_firmware():
    """_slot read its records with the base install's core/record.py: drop the firmware
    package, so that the app's imports come from the slot now first on the path."""
    import sys

    for name in [m for m in sys.modules if m == "firmware" or m.startswith("firmware.")]:
        del sys.modules[name]


def _slot():
    """Count a trial boot, roll back when the trial boots are used up; put the active
    slot's code first on the import path."""
    global TRIAL
    import sys

    st = _read(_STATE)
    if not st:
        return
    if "max" in st:
        st["boots"] = st.get("boots", 0) + 1
        if st["boots"] > st["max"]:
            st = {"active": st.get("prev", ""), "note": "update: version %s rolled back "
                  "(not healthy within %d boots)" % (st.get("version"), st["max"])}
        else:
            TRIAL = True
        _write(_STATE, st)
    slot = st.get("active")
    if slot:
        sys.path.insert(0, slot + "/lib")
        sys.path.insert(0, slot)


try:
    _slot()
except Exception as e:  # noqa: BLE001 - boot must go on with the base install
    print("boot: slot selection failed:", e)
_forget_firmware()
try:
    from machine import Pin

    from firmware import boards

    _b = boards.load((_read("prov.json") or {}).get("board"))
    Pin(_b.RELAY, Pin.OUT, value=0)
    if _b.SERVICE_BUTTON is not None and not Pin(_b.SERVICE_BUTTON, Pin.IN, Pin.PULL_UP).value():
        SAFE_BOOT = True
except Exception as e:  # noqa: BLE001 - boot must go on; the app opens it again
    print("boot: could not set the relay pin:", e)


def start(extra=()):
    """What main.py runs: the app, unless the service button was held at power-up."""
    if SAFE_BOOT:
        print("boot: service button held at power-up: app not started, REPL for recovery")
        return
    try:
        from firmware import app

        app.main(extra=extra)
    except Exception as e:  # noqa: BLE001
        if not TRIAL:
            raise
        print("boot: the new version failed:", e)  # the next boot counts against it
        import machine

        machine.reset()
