"""The serial-REPL diagnostics on the virtual board, as a field technician uses them
after a power-up with the service button held: the app's objects built, not running."""
from tools.vboard.world import World

SCRIPT = r"""
import boot, time
from firmware import app, diag
a = app.App()
app.current = a
print("== relay"); diag.relay()
print("== selftest"); diag.selftest()
print("== config"); diag.set("charging.max_current_a", 16)
diag.set("charging.max_current_a", 3); diag.config()
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
    assert "saved; applied at the next restart" in cfg
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
