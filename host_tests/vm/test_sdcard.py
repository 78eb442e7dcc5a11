"""The SD card slot (the manual's "USB settings") on the virtual board: the firmware's
driver talks SPI to a card model (tools/vboard/vm/sdcard_sim.py) backed by a FAT image
(host_tests/vm/sdimage.py). An empty card inserted gets the configuration and the log;
a card's CFG/config.json is applied, or refused with the reason and nothing changed; a
full card and a card pulled out mid-write are logged and leave the charger running."""
import json
import os
import time

from sdimage import insert, make, read, remove

SAVED = "SD card: configuration and log saved"


def said(w, text):
    return any(text in line for line in w.console)


def settings_on_flash(w):
    with open(os.path.join(w.state_dir, "config.json")) as f:
        doc = json.load(f)
    doc = doc.get("data", doc)
    return doc.get("s", doc)


# The card's simulation (its FAT image, in Python on the VM's heap) leaves the firmware
# 8.4 KB less of it (the VM prints "simulation heap 66784 bytes", 58368 without a card);
# at the default 320k a 3.5 KB allocation failed once the firmware grew by a few bytes
# (64-bit VM, modules from .mpy: bytecode on the heap; frozen on 32 bits, everything on
# takes ~70 KB of a Pico W's 190 KB).
HEAP = "384k"


def board(start_board, tmp_path, config, image=None):
    img = tmp_path / "card.img"
    if image is None:
        make(img)
        remove(img)  # the slot starts empty
    return start_board(dict(config), heap=HEAP, env={"VBOARD_SD": str(img)}), img


def test_empty_card_inserted_gets_the_configuration_and_the_log(start_board, tmp_path):
    w, img = board(start_board, tmp_path, {"sd.allow_init": True})
    w.wait_for(lambda w: said(w, "[info] started on virtual"), timeout=20)
    assert not said(w, "SD card inserted")
    insert(img)
    w.wait_for(lambda w: said(w, SAVED), timeout=20)
    remove(img)
    w.wait_for(lambda w: said(w, "SD card removed"), timeout=20)
    files = read(img.with_name("card.img.out"))
    assert sorted(files) == ["CFG/config.json", "LOG/log.txt"], sorted(files)
    doc = json.loads(files["CFG/config.json"])
    assert doc["format"] == "wallbox-config" and doc["settings"]["sd.allow_init"] is True
    assert "net.wifi_password" not in doc["settings"]  # secrets stay on the box
    log = files["LOG/log.txt"]
    assert "boot: reset cause" in log and "SD card inserted (0 MB)" in log
    assert w.status() == "Idle" and not w.fault()


def test_card_configuration_applied_and_a_bad_one_changes_nothing(start_board, tmp_path):
    img = tmp_path / "card.img"
    good = {"format": "wallbox-config", "settings": {"charging.max_current_a": 10,
                                                     "some.future_key": 1}}
    make(img, {"CFG/config.json": json.dumps(good)})
    w, _ = board(start_board, tmp_path, {"sd.allow_config": True}, image=img)
    w.wait_for(lambda w: said(w, "SD card: configuration applied from CFG/config.json"),
               timeout=20)
    # logged just after: the console's pipe may not have brought it yet
    w.wait_for(lambda w: said(w, "SD card: unknown settings ignored: some.future_key"),
               timeout=5)
    assert settings_on_flash(w)["charging.max_current_a"] == 10
    remove(img)
    w.wait_for(lambda w: said(w, "SD card removed"), timeout=20)
    before = settings_on_flash(w)
    bad = {"format": "wallbox-config", "settings": {"charging.max_current_a": 99,
                                                    "charging.cable_a": 13}}
    make(img, {"CFG/config.json": json.dumps(bad)})
    w.wait_for(lambda w: said(w, "SD card: CFG/config.json refused, nothing changed: "
                                 "nothing imported: 1 setting(s) refused; "
                                 "charging.max_current_a: must be between"), timeout=20)
    remove(img)
    w.wait_for(lambda w: said(w, "SD card removed"), timeout=20)
    make(img, {"CFG/config.json": "{not json"})
    w.wait_for(lambda w: said(w, "SD card: CFG/config.json refused, nothing changed: "),
               timeout=20)
    assert settings_on_flash(w) == before  # neither the cable's 13 A nor anything else
    assert w.status() == "Idle" and not w.fault()


def test_full_card_is_reported_and_leaves_no_whole_looking_file(start_board, tmp_path):
    img = tmp_path / "card.img"
    free = make(img, {"System Volume Information/fill": 1})
    make(img, {"System Volume Information/fill": free - 1024})  # counts as empty
    w, _ = board(start_board, tmp_path, {"sd.allow_init": True}, image=img)
    w.wait_for(lambda w: said(w, "[error] SD card: the card is full"), timeout=20)
    time.sleep(5)  # two more polls: the failed card is left alone, not retried
    assert sum("the card is full" in line for line in w.console) == 1
    remove(img)
    w.wait_for(lambda w: said(w, "SD card removed"), timeout=20)
    files = read(img.with_name("card.img.out"))
    assert "CFG/config.json" not in files and "LOG/log.txt" not in files, sorted(files)
    assert w.status() == "Idle" and not w.fault()


def test_unformatted_card_is_reported_once(start_board, tmp_path):
    img = tmp_path / "card.img"
    img.write_bytes(bytes(512 * 1024))
    w, _ = board(start_board, tmp_path, {"sd.allow_init": True}, image=img)
    w.wait_for(lambda w: said(w, "[error] SD card: no FAT file system on it"), timeout=20)
    remove(img)
    w.wait_for(lambda w: said(w, "SD card removed"), timeout=20)
    assert sum("no FAT file system" in line for line in w.console) == 1


def test_card_pulled_out_mid_write_then_a_new_card_works(start_board, tmp_path):
    img = tmp_path / "card.img"
    make(img)
    (tmp_path / "card.img.pull").write_text("3")  # gone after 3 more block writes
    w, _ = board(start_board, tmp_path, {"sd.allow_init": True}, image=img)
    w.wait_for(lambda w: said(w, "[error] SD card: the card does not answer (removed?)"),
               timeout=20)
    assert os.path.exists(str(img) + ".removed") and not os.path.exists(img)
    assert not said(w, SAVED)
    assert w.status() == "Idle" and not w.fault()
    os.remove(tmp_path / "card.img.pull")
    make(img)  # another, empty card
    w.wait_for(lambda w: said(w, SAVED), timeout=20)


def test_nothing_happens_on_the_card_while_charging(start_board, tmp_path):
    img = tmp_path / "card.img"
    make(img)
    remove(img)
    w = start_board({"sd.allow_init": True}, heap=HEAP, env={"VBOARD_SD": str(img)},
                    plugged=True)
    w.wait_for(lambda w: w.status() == "Charging" and w.relay_closed(), timeout=30)
    insert(img)
    time.sleep(5)  # two polls of the slot: nothing while the relay is closed
    assert not said(w, "SD card inserted")
    w.set(plugged=False)
    w.wait_for(lambda w: said(w, SAVED), timeout=20)
