"""The data log on flash: bounded ring, batching, restarts, reboot records, and the
whole firmware on the virtual board writing faults, restarts and reset causes."""
import json
import os
import subprocess

from vmrun import ROOT, micropython

RING = r"""
import json, os
from firmware.services.platform.log import Log
from firmware.services.platform.datalog import DataLog
log = Log(echo=False)
d = DataLog(log, segments=4, seg_bytes=600)
writes = [0]
real_flush = d.flush
for i in range(1, 301):
    log.add("fault" if i % 50 == 0 else "info", "entry %d\nsecond line" % i)
    if i % 10 == 0:
        d.flush()
        writes[0] += 1
segs = sorted(int(n) for n in os.listdir("log"))
sizes = [os.stat("log/%d" % n)[6] for n in segs]
newest = d.newest(30)
whole = "".join(d.chunks(100))
# a restart: the count goes on, the ring is found again
log2 = Log(echo=False)
d2 = DataLog(log2, segments=4, seg_bytes=600)
log2.add("info", "after restart")
pending_first = d2.newest(2)
d2.flush()
# a torn last line (power cut mid-append) does not stop the next start
with open("log/%d" % d2.seg, "a") as f:
    f.write("99999\tgarb")
d3 = DataLog(Log(echo=False), segments=4, seg_bytes=600)
print(json.dumps({"segs": segs, "sizes": sizes, "newest": newest, "whole": whole,
                  "seq2": d2.seq, "pending_first": pending_first, "seq3": d3.seq}))
"""


def vm(tmp_path, script):
    path = tmp_path / "s.py"
    path.write_text(script)
    env = dict(os.environ, MICROPYPATH=ROOT + ":.frozen")
    out = subprocess.run([micropython(), str(path)], cwd=str(tmp_path), env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_ring_is_bounded_survives_restarts_and_reads_newest_first(tmp_path):
    r = vm(tmp_path, RING)
    assert len(r["segs"]) == 4  # the oldest segments were deleted
    assert r["segs"] == list(range(r["segs"][0], r["segs"][0] + 4))
    assert all(s < 600 + 10 * 60 for s in r["sizes"])  # a batch may overrun a little
    seqs = [int(line.split("\t")[0]) for line in r["newest"]]
    assert seqs == list(range(300, 270, -1))  # newest first, none missing
    line = r["newest"][0].rstrip("\n").split("\t")
    assert line[2:] == ["fault", "entry 300 | second line"]
    assert line[1].startswith("+") or line[1][:2] == "20"  # boot-relative or local time
    whole = r["whole"].splitlines()
    assert [int(x.split("\t")[0]) for x in whole] == list(range(301 - len(whole), 301))
    assert "info\tentry 299 | second line" in r["whole"]
    assert r["seq2"] == 301 and r["pending_first"][0].startswith("301\t")
    assert r["seq3"] == 301  # the torn line is skipped


def test_faults_restarts_and_reset_causes_reach_the_flash(start_board):
    w = start_board(plugged=True)
    w.wait_for(lambda w: w.status() == "Charging" and w.relay_closed(), timeout=20)
    w.set(plugged=False)
    w.wait_for(lambda w: w.fault() == 1)
    # a fault is written within about a second, without waiting for the batch
    w.wait_for(lambda w: "fault\tfault 1:" in w.flash_log(), timeout=5)
    assert "info\tboot: reset cause power-on" in w.flash_log()
    w.press("service", 2500)  # the manual's restart: first tone, release
    w.wait_for(lambda w: w.boots == 2, timeout=20)
    w.wait_for(lambda w: "boot: reset cause hard reset" in w.flash_log(), timeout=40)
    text = w.flash_log()
    assert text.index("restart: service button") < text.index("boot: reset cause hard reset")
    seqs = [int(line.split("\t")[0]) for line in text.splitlines()]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
