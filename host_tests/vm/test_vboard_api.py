"""The virtual board's JSON API and panel page, over real HTTP."""
import json
import re
import urllib.error
import urllib.request

import pytest

from tools.vboard.server import serve


@pytest.fixture
def api(start_board):
    w = start_board()
    httpd = serve(w, 0)
    base = "http://127.0.0.1:%d" % httpd.server_address[1]

    def call(path, body=None):
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        req = urllib.request.Request(base + path, data=data, method="POST" if data else "GET")
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    yield w, call
    httpd.shutdown()


def test_panel_page_and_state(api):
    w, call = api
    code, headers, body = call("/")
    assert code == 200 and headers["Content-Type"].startswith("text/html")
    assert b'id="S1"' in body and b"/api/state" in body
    code, _, body = call("/api/state")
    st = json.loads(body)
    assert code == 200
    assert st["firmware"]["status"] == "Idle" and st["relay"]["closed"] is False
    assert set(st["leds"]) == {"S1", "S2", "S3", "S4", "online", "mode", "rfid", "frame", "touch"}


def test_the_board_reports_its_heap_share_before_the_firmware_starts(api):
    # tools/bench subtracts this share from every heap figure
    w, _ = api
    first = [i for i, line in enumerate(w.console) if line.startswith("[info] boot:")][0]
    share = [i for i, line in enumerate(w.console) if line.startswith("vboard: simulation heap")]
    assert share and share[0] < first
    assert 30000 < w.sim_heap < 120000 and w.sim_heap == type(w).last_sim_heap


def test_the_board_prints_the_interned_names_for_the_bench(start_board):
    # tools/bench reads names_all from these lines (VBOARD_NAMES_EVERY_MS)
    w = start_board(env={"VBOARD_NAMES_EVERY_MS": "200"})
    w.wait_for(lambda w: sum(x.startswith("qstr pool:") for x in w.console) >= 2, 5)
    line = [x for x in w.console if x.startswith("qstr pool:")][-1]
    assert int(re.search(r"n_qstr=(\d+)", line).group(1)) > 500
    assert not any(x.startswith("qstr pool:") for x in start_board().console)


def test_set_inputs_drives_a_session(api):
    w, call = api
    code, _, body = call("/api/set", {"plugged": True, "car_state": "C"})
    assert code == 200 and json.loads(body)["inputs"]["plugged"] is True
    w.wait_for(lambda w: w.status() == "Charging")
    st = json.loads(call("/api/state")[2])
    assert st["relay"]["closed"] and st["pilot"]["offered_a"] == 32.0
    assert st["firmware"]["limit_source"] == "installation"


@pytest.mark.parametrize("body, reason", [
    ({"plugged": "yes"}, "plugged must be true or false"),
    ({"mains_v": 1000}, "mains_v must be between 0 and 400"),
    ({"car_state": "X"}, "car_state must be one of B, C, D"),
    ({"warp": 9}, "unknown input"),
    ([1, 2], "expected a JSON object"),
])
def test_bad_input_is_refused_with_a_reason(api, body, reason):
    _, call = api
    code, _, out = call("/api/set", body)
    assert code == 400 and reason in json.loads(out)["error"]


def test_malformed_json_and_unknown_paths(api):
    w, call = api
    code, _, out = call("/api/set", b"{not json")
    assert code == 400 and json.loads(out)["error"]
    code, _, out = call("/api/nope")
    assert code == 404
    code, _, out = call("/api/press", {"button": "elbow", "ms": 100})
    assert code == 400 and "unknown button" in json.loads(out)["error"]
    code, _, out = call("/api/press", {"button": "service", "ms": 0})
    assert code == 400


def test_press_and_console(api):
    w, call = api
    code, _, _ = call("/api/press", {"button": "service", "ms": 2500})
    assert code == 200
    w.wait_for(lambda w: w.boots == 2, timeout=10)  # the service button restarts the board
    lines = json.loads(call("/api/console")[2])["lines"]
    assert any("restart: service button" in line for line in lines)
