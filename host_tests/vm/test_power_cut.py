"""Power cuts during writes: the VM is killed (SIGKILL) at random moments while it saves
the settings and a queue record, hundreds of times; every file must then load as the
old or the new content, never as something else and never as an error.

Two file systems: the VM's POSIX files (rename is atomic there) and littlefs v2 (the
boards' file system, MicroPython's own VfsLfs2) on a block device that writes every
block straight to a host file, so a kill between two block writes is a power cut.
"""
import random

from powercut import MOUNT, cut_power, new_flash, run
from tier import count

SETUP = MOUNT + r"""
from firmware.services.platform.log import Log
from firmware.services.platform import config
log = Log(echo=False)
"""

WRITER = SETUP + r"""
i = int(sys.argv[4])
cfg = config.Config(log)
while True:
    config.save_json("queue.json", [[k, "tx%d" % k] for k in range(i % 23)] + [i])
    cfg.update({"charging.max_current_a": 6 + i % 70, "net.hostname": "h%d" % i})
    print(i)
    i += 1
"""

READER = SETUP + r"""
import json
q = config.load_json("queue.json", None, log)
cfg = config.Config(log)
cfg.load()
print(json.dumps({"queue": q, "a": cfg.get("charging.max_current_a"),
                  "host": cfg.get("net.hostname"), "log": [e[3] for e in log.entries]}))
"""


def writer(tmp_path, mode, img, start, delay_s):
    """Run the writer, cut its power after delay_s; the last save it reported done."""
    done = []
    cut_power(tmp_path, WRITER, (mode, img, "-", start), delay_s,
              lambda line: done.append(int(line)))
    return done[-1] if done else start - 1


def check(state, n):
    """The files hold save n (completed) or n + 1 (cut short), consistently.
    Returns the save that both files hold."""
    q = state["queue"]
    got = q[-1]
    assert got in (n, n + 1), (got, n)
    assert q[:-1] == [[k, "tx%d" % k] for k in range(got % 23)]
    # the settings are saved after the queue: the same save or the one before, >= n
    ok = [k for k in (got - 1, got) if k >= n and (
        k < 0 and state["a"] == 32 and state["host"] == "" or
        k >= 0 and state["a"] == 6 + k % 70 and state["host"] == "h%d" % k)]
    assert ok, (state, n)
    assert not [m for m in state["log"] if "corrupt" in m or "defaults" in m], state["log"]
    return ok[-1]  # the save both files have completed: the next writer starts after it


def trials(tmp_path, mode, img, n_trials):
    import json
    rng = random.Random(7)
    last = -1
    for trial in range(n_trials):
        done = writer(tmp_path, mode, img, last + 1, rng.uniform(0.03, 0.25))
        state = json.loads(run(tmp_path, READER, mode, img, "-").strip().splitlines()[-1])
        assert state["queue"] is not None or done < 0
        if state["queue"] is None:
            continue
        last = check(state, done)
    return last


def test_power_cuts_on_posix_files_leave_old_or_new(tmp_path):
    n = count(40, 150)  # trials (tier.py)
    last = trials(tmp_path, "posix", new_flash(tmp_path, "posix"), n)
    assert last > n  # the writer made progress: the cuts fell inside saves


def test_power_cuts_on_littlefs_leave_old_or_new(tmp_path):
    n = count(60, 250)
    last = trials(tmp_path, "lfs", new_flash(tmp_path, "lfs"), n)
    assert last > n
