"""Power cuts while the backend's transaction queue (services/ocpp/txqueue.TxQueue) appends
and acknowledges messages: the VM is killed (SIGKILL) at random moments, hundreds of
times, on the VM's POSIX files and on littlefs v2 (a block device writing every block
straight to a host file). After every cut the queue must load, hold exactly the
messages put and not acknowledged, in order, with nothing acknowledged coming back
except the one acknowledgement that was in flight, and nothing lost but the one put in
flight."""
import json
import random
import shutil

from powercut import MOUNT, cut_power, new_flash, run
from tier import count

SETUP = MOUNT + r"""
from firmware.services.platform.log import Log
from firmware.services.ocpp.txqueue import TxQueue
log = Log(echo=False)
ID_TAG = "J\u00fcrgen-\u20ac-\u540d"  # Jürgen-€-名
"""

# Puts numbered messages and acknowledges the oldest, at random; every third one is a
# "start" whose acknowledgement records a transactionId (number x 10). Each carries an
# idTag of characters of two and three bytes (the file's offsets are bytes).
WRITER = SETUP + r"""
import random
nxt = int(sys.argv[4])
random.seed(int(sys.argv[5]))
q = TxQueue(log, max_bytes=4096)
while True:
    n = q.pending()
    if n < 6 and (n == 0 or random.getrandbits(2)):
        kind = "StartTransaction" if nxt % 3 == 0 else "MeterValues"
        if q.put(nxt, kind, {"n": nxt, "idTag": ID_TAG, "pad": "x" * (nxt % 61)}):
            print("P", nxt)
            nxt += 1
    else:
        ltx, kind, p = q.head()
        q.ack(ltx, ltx * 10 if kind == "StartTransaction" else None)
        print("A", ltx)
"""

READER = SETUP + r"""
import json
q = TxQueue(log, max_bytes=4096)
out = []
while True:
    rec = q.head()
    if rec is None:
        break
    assert rec[2]["n"] == rec[0] and rec[2]["idTag"] == ID_TAG, rec
    out.append(rec[0])
    q.ack(rec[0])  # on a copy of the flash
print(json.dumps({"pending": out, "ids": q.ids, "log": [e[3] for e in log.entries]}))
"""


def writer(tmp_path, mode, img, nxt, seed, delay_s):
    """Run the writer, cut its power after delay_s; the last put and ack it reported."""
    last = {"P": nxt - 1, "A": None}

    def seen(line):
        part = line.split()
        if len(part) == 2:
            last[part[0]] = int(part[1])
    cut_power(tmp_path, WRITER, (mode, img, "-", nxt, seed), delay_s, seen)
    return last["P"], last["A"]


def trials(tmp_path, mode, img, n_trials):
    rng = random.Random(11)
    nxt, acked = 0, -1  # next number to put; the highest acknowledged so far
    for trial in range(n_trials):
        last_p, last_a = writer(tmp_path, mode, img, nxt, trial, rng.uniform(0.03, 0.2))
        if last_a is not None:
            acked = last_a
        copy = str(tmp_path / ("copy.img" if mode == "lfs" else "copy"))
        if mode == "lfs":
            shutil.copy(img, copy)
        else:
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(img, copy)
        state = json.loads(run(tmp_path, READER, mode, copy, "-").strip().splitlines()[-1])
        pend = state["pending"]
        assert pend == list(range(pend[0], pend[0] + len(pend))) if pend else True, pend
        if pend:
            # nothing acknowledged comes back, except the acknowledgement in flight
            assert pend[0] in (acked + 1, acked + 2), (pend, acked)
            # nothing put is lost, except the put in flight
            assert pend[-1] in (last_p, last_p + 1), (pend, last_p)
            nxt = pend[-1] + 1
            acked = pend[0] - 1
        else:
            assert last_p <= acked + 1, (last_p, acked)
            acked = max(acked, last_p)
            nxt = last_p + 1
        assert all(int(k) * 10 == v and int(k) % 3 == 0 for k, v in state["ids"].items())
        assert not [m for m in state["log"] if "unreadable" in m or "corrupt" in m], state["log"]
    return nxt


CUT_AFTER_THE_LAST_ACK = SETUP + r"""
import json
from firmware.services.platform.config import save_json
from firmware.services.ocpp import txqueue
q = TxQueue(log, max_bytes=600)
n = 0
while q.put(n, "MeterValues", {"n": n, "idTag": ID_TAG}):
    n += 1
# every message delivered; the power goes after the ack record, before the fresh file
save_json(txqueue.ACKS, {"n": q.count, "ids": {}})
q = TxQueue(log, max_bytes=600)
print(json.dumps({"filled": n, "pending": q.pending(), "size": q.size,
                  "put": q.put(n, "MeterValues", {"n": n, "idTag": ID_TAG})}))
"""


def test_a_cut_after_the_last_ack_leaves_an_empty_queue_not_a_full_one(tmp_path):
    # found by the trials below under load: the queue loaded with everything delivered
    # kept the old lines' size and refused meter values as full, with nothing in it
    img = new_flash(tmp_path, "lfs")
    state = json.loads(run(tmp_path, CUT_AFTER_THE_LAST_ACK, "lfs", img, "-").splitlines()[-1])
    assert state["filled"] > 1
    assert state == {"filled": state["filled"], "pending": 0, "size": 0, "put": True}


def test_power_cuts_on_posix_files(tmp_path):
    img = new_flash(tmp_path, "posix")
    n = count(32, 120)  # trials (tier.py); 2.5 messages a trial: the cuts fell mid-work
    assert trials(tmp_path, "posix", img, n) > n * 5 // 2


def test_power_cuts_on_littlefs(tmp_path):
    img = new_flash(tmp_path, "lfs")
    n = count(50, 200)  # 1.5 messages a trial
    assert trials(tmp_path, "lfs", img, n) > n * 3 // 2
