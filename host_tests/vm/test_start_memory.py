"""Out of memory at start-up: a service that cannot start says so (console and status
API), is tried again with a growing pause, and charging goes on safely without it.
The virtual board's ballast (VBOARD_BALLAST=free_kb:ms, tools/vboard/vm/vboard_hooks.py)
holds all of the heap but free_kb until ms after the start: with 212 KB left the core
and the web interface start and the backend, which needs more, does not."""
import json
import socket

from webclient import PROV, Client, charging, start_web_board, wait_web

from tools.vboard.world import World


FAST = {"charging.selftest_s": 1, "charging.retry_delay_s": 1}


def logged(w, text):
    return any(text in line for line in list(w.console))


def test_backend_out_of_memory_at_start_is_shown_and_retried(start_board, cs):
    cfg = {"backend.enabled": True, "backend.url": cs.url(), "backend.charge_point_id": "CP1",
           "backend.retry_max_s": 2}
    # 250 KB free at start: in the window in which the firmware starts and the backend
    # does not fit (measured with the flash gate: from over 228 to over 246 KB; at 228
    # the VM itself crashed, SIGSEGV, out of memory in the middle of the start). With the
    # planning settings and service (issue 19) the web task now and then ran out at 238;
    # 241 to 253 passed; at 244 the web server's accept loop itself ran out now and then:
    # it is a supervised task now, restarted (checked below), so 250 stays in the window.
    w = start_web_board(start_board, cfg, heap="640k",
                        env={"VBOARD_BALLAST": "250:2000"})
    w.wait_for(lambda w: logged(w, "backend not started: out of memory"), 20)
    assert logged(w, "trying again in 10 s. More RAM or fewer features: docs/hardware.md")
    # the ballast goes 2 s after the start (a login needs more than 212 KB), the retry
    # comes 10 s after it: the status shows the backend missing until then
    w.wait_for(lambda w: logged(w, "vboard: ballast freed"), 20)
    wait_web(w)  # if its accept loop ran out meanwhile, the web server listens anew
    web = Client(w).set_up()
    st, s, _ = web.get("/api/v1/status")
    assert st == 200 and s["not_started"] == ["backend"], s
    assert not cs.calls("CP1")
    # charging goes on without the backend, with every safety check
    w.set(plugged=True)
    w.wait_for(charging, 20)
    w.set(plugged=False)
    w.wait_for(lambda w: not w.relay_closed(), 5)
    # the memory comes back: the retry (10 s after the start) starts the backend
    w.wait_for(lambda w: logged(w, "backend started"), 30)
    cs.wait_for(lambda cs: cs.calls("CP1", "BootNotification"), 20)
    st, s, _ = web.get("/api/v1/status")
    assert st == 200 and s["not_started"] == [], s
    # nothing crashed, but perhaps the web server's accept loop out of memory (restarted)
    crashes = [line for line in w.console if "crashed" in line]
    assert all(line.startswith("[error] task web crashed") for line in crashes), crashes


def test_web_port_taken_is_retried(tmp_path, firmware_build):
    """Another program holds the web port at start: the firmware logs it, keeps
    charging, and listens once the port is free."""
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    (tmp_path / "config.json").write_text(json.dumps(FAST))
    (tmp_path / "prov.json").write_text(PROV)
    w = World(str(tmp_path), heap="640k", code_root=firmware_build, web_port=port).start()
    try:
        try:
            w.wait_for(lambda w: logged(w, "web server cannot listen on port %d" % port), 20)
            assert logged(w, "retrying in 5 s")
            w.set(plugged=True)
            w.wait_for(charging, 20)
        finally:
            holder.close()
        w.wait_for(lambda w: logged(w, "web interface on port %d" % port), 30)
        st, s, _ = Client(w).get("/api/v1/status")
        assert st == 401  # it answers: a login is needed
    finally:
        w.stop()


def test_web_accept_out_of_memory_is_restarted(start_board):
    """The web server's accept loop runs out of memory (injected where it makes an
    accepted connection's stream): the supervisor logs it and restarts the web server,
    which closes its listening socket and listens anew; the web answers again."""
    w = start_web_board(start_board, FAST, env={"VBOARD_ACCEPT_FAIL": "2"})
    for n in (1, 2):  # wait_web's connection is the one that fails
        w.wait_for(lambda w: logged(w, "task web crashed (%d): " % n), 20)
        wait_web(w)
    st, s, _ = Client(w).get("/api/v1/status")
    assert st == 401  # it answers: a login is needed
    lines = list(w.console)
    assert sum("MemoryError: vboard: injected at accept" in line for line in lines) == 2
    assert sum("web interface on port %d" % w.web_port in line for line in lines) == 3
    assert not any("cannot listen" in line for line in lines)  # the old socket was closed
