"""The RFID service (firmware/services/rfid/service.py) in the MicroPython VM: its whitelist API
and file handling on the VM's real files, and the backend hook for unknown cards.

The service runs with the real driver on the register-level chip model, the real core,
config, log and panel objects; the backend is played by an object with the documented
`async authorize(uid)` (the real one is tested against a central system in
host_tests/vm/test_ocpp_scenarios.py).
"""
import pytest
from vmrun import result_line, run_on_inert_board

SCRIPT = r"""
import asyncio, json, os, time
import rc522_sim
from machine import Pin, SPI
from firmware.core import auth, front
from firmware.core.charger import Charger, ChargerConfig
from firmware.core.front import Front
from firmware.core.limits import Arbiter
from firmware.core.pilot import PilotClassifier
from firmware.drivers.rc522 import RC522
from firmware.services.platform.config import Config, load_json, save_json
from firmware.services.platform.log import Log
from firmware.services.rfid.service import Rfid
from firmware.services.charging.panel import Panel

chip = rc522_sim.CHIP
out = {}
MASTER = "04112233445566"


class Ctl:
    pass


class Buzzer:  # records what would be played
    def __init__(self):
        self.played = []

    async def play(self, seq):
        self.played.append("rising" if seq == front.RISING else "falling"
                           if seq == front.FALLING else "other")


def service(enabled=False):
    log = Log(echo=False)
    cfg = Config(log)
    cfg.load()
    cfg.values["auth.enabled"] = enabled
    ctl = Ctl()
    ctl.charger = Charger(ChargerConfig(), PilotClassifier(), Arbiter(), time.ticks_ms())
    buzzer = Buzzer()
    panel = Panel(None, buzzer, ctl, Front(), None, None, lambda why: None)
    reader = RC522(SPI(1), Pin(24, Pin.OUT, value=1), Pin(25, Pin.OUT, value=1))
    s = Rfid(reader, ctl, panel, cfg, log)
    s.ctl = ctl
    s.buzzer = buzzer
    return s


def texts(s):
    return [e[3] for e in s.log.entries]


def wipe():
    for f in ("cards.json", "cards.json.bak", "cards.json.tmp"):
        try:
            os.remove(f)
        except OSError:
            pass


def write(obj, name="cards.json"):
    with open(name, "w") as f:
        f.write(obj if isinstance(obj, str) else json.dumps(obj))


# ------------------------------------------------------------ whitelist API and files
wipe()
s = service()
out["fresh"] = [s.auth.count, s.auth.enrolling]
res = {}
res["add_lower"] = s.add("a1b2c3d4", "Anna")
res["add_master"] = s.add(MASTER, "white", True)
res["add_dup"] = s.add("A1B2C3D4")
res["add_bad_uid"] = s.add("A1B2C3")
res["add_bad_label"] = s.add("B1B2C3D4", "x" * 40)
res["label"] = s.set_label("A1B2C3D4", "Anna's car")
res["label_unknown"] = s.set_label("DEADBEEF", "x")
res["remove_unknown"] = s.remove("DEADBEEF")
out["api"] = res
out["after_api"] = [s.auth.count, s.auth.version, s.auth.master, s.auth.known("A1B2C3D4"),
                    s.entries()]
out["remove"] = [s.remove("A1B2C3D4"), s.auth.known("A1B2C3D4"), s.auth.count]
os.mkdir("cards.json.tmp")  # the next write fails
before = s.entries()
out["flash_error"] = [s.add("C0FFEE01"), s.entries() == before, s.auth.known("C0FFEE01"),
                      s.auth.count]
os.rmdir("cards.json.tmp")
for i in range(99):
    assert s.add("%08X" % (0x10000000 + i)) is None
out["full"] = [s.auth.count, s.add("C0FFEE01"), s.auth.count, len(s.entries()["cards"])]
out["clear"] = [s.clear(), s.auth.count, load_json("cards.json.bak")["cards"],
                load_json("cards.json")["cards"]]

# loading: damaged files
wipe()
write({"version": 4, "master": MASTER, "cards": {MASTER: "", "A1B2C3D4": ""}})
save_json("cards.json", {"version": 5, "master": MASTER, "cards": {MASTER: ""}})  # 4 -> .bak
write('{"crc":"00000000","data":{"version": 6}}')  # damaged: the .bak copy is good
s = service()
out["bak"] = [s.auth.count, s.auth.version, s.auth.enrolling,
              any("last good copy" in t for t in texts(s))]
write("{not json", "cards.json.bak")
s = service()
out["both_bad"] = [s.auth.count, s.auth.enrolling, any("unusable" in t for t in texts(s))]
wipe()
write({"version": 1, "master": "", "cards": {"a1b2c3d4": ""}})  # valid JSON, bad content
s = service()
out["bad_content"] = [s.auth.count, s.auth.enrolling, any("unusable" in t for t in texts(s))]
wipe()
write({"version": 2, "master": "", "cards": {}})
s = service()
out["empty_list"] = [s.auth.count, s.auth.enrolling]


# -------------------------------------------------------------- backend hook
class Backend:
    def __init__(self):
        self.asked = []

    async def authorize(self, uid):
        self.asked.append(uid)
        if uid == "C0FFEE01":
            return True
        if uid == "DEADBEEF":
            return False
        if uid == "12345678":
            raise OSError("connection reset")
        if uid == "ABCDEF01":
            await asyncio.sleep(60)  # never answers
        return None  # unknown / offline


async def tap(s, uid, ms=600, after=600):
    chip.cards[0] = rc522_sim.Card(bytes.fromhex(uid))
    await asyncio.sleep_ms(ms)
    chip.cards[0] = None
    await asyncio.sleep_ms(after)
    return [s.ctl.charger.authorized, s.auth.holder]


async def backend_case():
    wipe()
    save_json("cards.json", {"version": 1, "master": MASTER, "cards": {MASTER: ""}})
    s = service(enabled=True)
    b = Backend()
    s.remote = b
    seen = []
    s.on_tap.append(lambda code, uid: seen.append([auth.text(code), uid]))
    task = asyncio.create_task(s.run())
    sounds = asyncio.create_task(s.panel.run_sounds())
    await asyncio.sleep_ms(300)
    got = {"start": [s.ctl.charger.authorized, s.state]}
    for uid in ("DEADBEEF", "0BADCAFE", "12345678"):
        got[uid] = await tap(s, uid)
    got["ABCDEF01"] = await tap(s, "ABCDEF01", after=5600)
    got["C0FFEE01"] = await tap(s, "C0FFEE01")
    got["other_known"] = await tap(s, MASTER)  # the window is held by the backend's card
    got["end"] = await tap(s, "C0FFEE01")
    got["asked"] = b.asked
    got["seen"] = seen
    got["sounds"] = s.buzzer.played
    got["errors"] = [t for t in texts(s) if "backend check" in t]
    task.cancel()
    sounds.cancel()
    return got


out["backend"] = asyncio.run(backend_case())
print("RESULT " + json.dumps(out))
"""


@pytest.fixture(scope="module")
def seen(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rfid_service")
    return result_line(run_on_inert_board(tmp, SCRIPT))


def test_a_board_without_cards_opens_the_master_window(seen):
    assert seen["fresh"] == [0, True]
    assert seen["empty_list"] == [0, True]


def test_the_whitelist_api_validates_and_saves(seen):
    api = seen["api"]
    assert api["add_lower"] is None and api["add_master"] is None and api["label"] is None
    assert "already" in api["add_dup"]
    assert "4, 7 or 10 bytes" in api["add_bad_uid"]
    assert "at most 32" in api["add_bad_label"]
    assert api["label_unknown"] == "no such card" and api["remove_unknown"] == "no such card"
    count, version, master, known, doc = seen["after_api"]
    assert count == 2 and version == 3 and master == "04112233445566" and known
    assert doc["cards"] == {"A1B2C3D4": "Anna's car", "04112233445566": "white"}
    assert seen["remove"] == [None, False, 1]


def test_a_flash_write_error_changes_nothing(seen):
    reason, unchanged, known, count = seen["flash_error"]
    assert reason and unchanged and not known and count == 1


def test_the_whitelist_holds_100_cards(seen):
    count, reason, after, stored = seen["full"]
    assert count == 100 and reason == "whitelist full" and after == 100 and stored == 100


def test_delete_all_empties_the_file_and_its_backup_copy(seen):
    assert seen["clear"] == [None, 0, {}, {}]


def test_a_damaged_file_falls_back_to_its_good_copy(seen):
    assert seen["bak"] == [2, 4, False, True]


def test_a_damaged_file_without_a_good_copy_opens_no_master_window(seen):
    assert seen["both_bad"] == [0, False, True]
    assert seen["bad_content"] == [0, False, True]


def test_unknown_cards_are_asked_of_the_backend(seen):
    b = seen["backend"]
    assert b["start"] == [False, 1]
    for uid in ("DEADBEEF", "0BADCAFE", "12345678", "ABCDEF01"):  # no, unknown, error, silent
        assert b[uid] == [False, None], uid
    assert b["C0FFEE01"] == [True, "C0FFEE01"]
    assert b["other_known"] == [True, "C0FFEE01"]
    assert b["end"] == [False, None]  # the same card ends it
    assert b["asked"] == ["DEADBEEF", "0BADCAFE", "12345678", "ABCDEF01", "C0FFEE01"]
    assert len(b["errors"]) == 2  # the exception and the timeout are logged
    assert b["sounds"] == ["falling"] * 4 + ["rising", "falling", "rising"]
    assert [s[0] for s in b["seen"]] == ["unknown card"] * 4 + [
        "authorized", "refused: held by another card", "ended by its card"]
