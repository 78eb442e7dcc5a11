"""The serial-REPL diagnostics on the virtual board, as a field technician uses them
after a power-up with the service button held: the app's objects built, not running."""
import os

from tools.vboard.world import World

SCRIPT = r"""
import boot, time
from firmware import app, diag
a = app.App()
app.current = a
print("== relay"); diag.relay()
print("== selftest"); diag.selftest()
print("== config"); diag.set("charging.max_current_a", 16)
from firmware.core import limits
print("configured claim", a.arbiter.claims[limits.CONFIGURED])
diag.set("charging.max_current_a", 3); diag.set("net.channel", 6); diag.config()
print("== net"); diag.net()
print("== rfid"); diag.rfid(2)
print("== tail"); a.datalog.flush(); diag.tail(5)
a.log.add("fault", "fault 5: impermissible load"); a.log.add("info", "after the fault")
print("== faults"); diag.faults(3)
print("== log"); diag.log(2)
print("== plug in now")
time.sleep_ms(1500)
print("== relay with vehicle"); diag.relay()
print("== done")
"""


class ReplWorld(World):
    """The virtual board with a technician's REPL session instead of main.py."""

    def vm_command(self):
        return super().vm_command()[:-1] + ["import repl_session"]


def test_diag_functions_at_the_repl(tmp_path):
    state = tmp_path / "flash"
    state.mkdir()
    (state / "repl_session.py").write_text(SCRIPT)
    w = ReplWorld(str(state))
    w.inputs["service_button"] = True  # held at power-up: the app does not start
    w.start()
    try:
        w.wait_for(lambda w: "== rfid" in w.console, timeout=30)
        w.present_card("04A1B2C3D4E5F6")
        w.wait_for(lambda w: "== plug in now" in w.console, timeout=30)
        w.set(plugged=True, car_state="B")
        w.wait_for(lambda w: "== done" in w.console, timeout=30)
        # the pins' records come on their own link, which may trail the console
        w.wait_for(lambda w: [e[3] for e in list(w.events)
                              if e[1] == "pin" and e[2] == 3][-2:] == [1, 0], timeout=10)
        out = "\n".join(w.console)
    finally:
        w.stop()
    section = out.split("== selftest")[0]
    assert "relay test: closed -> output live | opened -> output dead" in section
    assert section.rstrip().endswith("-> ok")
    # the relay really closed and opened on the board's pin
    assert [e[3] for e in w.events if e[1] == "pin" and e[2] == 3][-2:] == [1, 0]
    st = out.split("== selftest")[1].split("== config")[0]
    for name in ("pilot", "relay open", "output sense", "RCD test", "temperature", "mains",
                 "DIP switches", "flash"):
        assert any(line.startswith("ok   " + name) for line in st.splitlines()), (name, st)
    assert "FAIL provisioned" in st and "self-test FAILED" in st  # a fresh, unprovisioned board
    cfg = out.split("== config")[1].split("== net")[0]
    assert "saved and applied" in cfg and "configured claim 160" in cfg  # the charger has it
    assert "saved; applied at the next restart" in cfg  # the hotspot's channel
    assert "{'charging.max_current_a': 'must be between 6 and 80'}" in cfg
    assert "charging.max_current_a       16" in cfg
    assert "serial UNPROV-" in cfg
    assert "clock" in out.split("== net")[1]
    tail = out.split("== tail")[1].split("== faults")[0]
    assert "boot: reset cause power-on" in tail
    # the fault history comes from the data log (the entry not yet written to flash too)
    fl = out.split("== faults")[1].split("== log")[0].strip().splitlines()
    assert len(fl) == 1 and fl[0].endswith("\tfault\tfault 5: impermissible load"), fl
    lg = out.split("== log")[1].split("== plug")[0].strip().splitlines()
    assert len(lg) == 2 and lg[0].endswith("fault 5: impermissible load"), lg
    assert lg[1].endswith("info after the fault"), lg
    after = out.split("== relay with vehicle")[1]
    assert "refused: a vehicle seems connected (pilot 8999 mV)" in after
    assert "card 04A1B2C3D4E5F6" in out.split("== rfid")[1].split("== tail")[0]


RESET_SCRIPT = r"""
import os, boot
from firmware import app, diag
a = app.App()
app.current = a
if "web.json" in os.listdir():
    print("== ask"); diag.factory_reset(); diag.factory_reset("yes")
    print("== files", sorted(os.listdir()))
    print("== erase"); diag.factory_reset("erase")
else:
    print("== after", sorted(os.listdir()))
    print("== values", a.config.get("house.fuse_a"), a.rfid.auth.count, a.config.prov["serial"])
    print("== done")
"""


def test_factory_reset_at_the_repl_needs_its_confirmation(tmp_path):
    state = tmp_path / "flash"
    state.mkdir()
    (state / "repl_session.py").write_text(RESET_SCRIPT)
    prov = '{"serial": "WB2611000123", "recovery_password": "rEcoVery-Pass-42x"}'
    (state / "prov.json").write_text(prov)
    (state / "config.json").write_text('{"house.fuse_a": 35}')
    (state / "web.json").write_text('{"user": "admin", "hash": "00", "salt": "00", "n": 1}')
    (state / "cards.json").write_text(
        '{"version": 3, "master": "", "cards": {"A1B2C3D4": "garage"}}')
    w = ReplWorld(str(state))
    w.inputs["service_button"] = True
    w.start()
    try:
        w.wait_for(lambda w: "== done" in w.console, timeout=60)
        out = "\n".join(w.console)
    finally:
        w.stop()
    ask = out.split("== ask")[1].split("== files")[0]
    assert ("deletes: config.json, web.json, cards.json, ocpp.json, ocpplist.json, txq/queue, "
            "txq.ack") in ask
    assert 'confirm:  diag.factory_reset("erase")' in ask
    assert ask.count("deletes:") == 2  # any other argument only asks again
    files = out.split("== files")[1].split("== erase")[0]
    assert "'web.json'" in files and "'cards.json'" in files  # nothing deleted yet
    after = out.split("== after")[1].split("== values")[0]
    for gone in ("config.json", "web.json", "cards.json"):
        assert "'%s'" % gone not in after, after
    assert "'prov.json'" in after and "'log'" in after
    assert (state / "prov.json").read_text() == prov
    assert "== values 25 0 WB2611000123" in out  # defaults, no cards, the same serial
    assert any("restart: factory reset at the REPL" in (state / "log" / f).read_text()
               for f in os.listdir(state / "log"))  # the data log keeps it
