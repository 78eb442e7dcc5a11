"""A fleet: ten virtual boards (three in the default tier, see tier.py), each the
compiled firmware in its own VM, against one central system on 127.0.0.1; every board's
transactions checked there."""
from tier import count
from tools import fleet
from tools.vboard.csms import CentralSystem


def test_a_fleet_of_boards_against_one_central_system(tmp_path, firmware_build):
    n = count(3, 10)
    assert fleet.shared_build() == firmware_build  # the tool runs the tests' build
    cs = CentralSystem().start()
    boards = fleet.start_boards(n, cs.url(), firmware_build, prefix="FLEET",
                                tmp=str(tmp_path))
    try:
        # generous waits: ten VMs share the machine's cores with whatever else runs
        cs.wait_for(lambda cs: all(cs.calls(cp, "StatusNotification") for cp, _ in boards), 300)
        fleet.run_sessions(boards, sessions=2, timeout=300)
        problems = fleet.check_on_central_system(cs, boards, sessions=2, timeout=300)
        assert problems == {}
        ids = [m[2]["transactionId"] for cp, _ in boards for m in cs.messages(cp, "out")
               if m[0] == 3 and isinstance(m[2], dict) and "transactionId" in m[2]]
        assert len(ids) == 2 * n and len(set(ids)) == 2 * n  # each its own transactions
        assert len(cs.stations) == n
    finally:
        for _, w in boards:
            w.stop()
        cs.stop()
