"""Hostile values in every field of every route of the web API and in every setting,
against the firmware in the VM while a car charges: infinities, NaN, 1e308, -0.0, huge
integers, numbers as text, nulls, lists, objects. Each answer is a clean 4xx with a
reason (or a 2xx when the value is valid), never a 500; the car goes on charging and
the saved settings keep their types."""
import json
import os
from urllib.parse import quote

from tools.vboard.__main__ import RUN_HEAP
from webclient import Client, charging, start_web_board

# JSON texts, so that the literals the firmware's parser may meet are sent as they are
VALUES = ["1e999", "-1e999", "NaN", "Infinity", "-Infinity", "1e308", "-1e308", "-0.0",
          "0.5", "16.0", "3.0", "9" * 100, "-" + "9" * 100, '"1e308"', '"nan"',
          '"%s"' % ("9" * 100),
          '"--5"', '"x"', '""', "null", "[]", "[16]", "{}", '{"a": 1}']
CARD = "A1B2C3D4"


def bodies(fixed, field):
    """(field, JSON text) for each hostile value of `field`, the others as `fixed`."""
    head = "".join('"%s": %s, ' % (k, json.dumps(v)) for k, v in fixed.items() if k != field)
    return [(field, "{%s\"%s\": %s}" % (head, field, v)) for v in VALUES]


def routes(keys):
    """(method, path, token, [(field, body)]) for every route that takes input."""
    out = [
        ("POST", "/api/v1/current", True, bodies({}, "current_a")),
        ("POST", "/api/v1/current", False, bodies({}, "current_a")),
        ("POST", "/api/time", False, bodies({}, "epoch_s")),
        ("POST", "/api/tokens", False, bodies({}, "label")),
        ("POST", "/api/cards", False, bodies({"uid": CARD, "label": "g"}, "uid") +
         bodies({"uid": CARD, "label": "g"}, "label")),
        ("PUT", "/api/cards/" + CARD, False, bodies({}, "label")),
        ("POST", "/api/meter/test", False, bodies({}, "which")),
        ("POST", "/api/wizard", False, bodies({}, "done")),
        ("POST", "/api/password", False, bodies({"new": "x"}, "old") +
         bodies({"old": "wrong-password"}, "new")),
        ("POST", "/api/login", False, bodies({"user": "admin"}, "password") +
         bodies({"password": "x"}, "user")),
        ("POST", "/api/recover", False, bodies({}, "recovery")),
        ("POST", "/api/factory-reset", False, bodies({"confirm": True}, "password") +
         bodies({"password": "wrong-password"}, "confirm")),
        ("POST", "/api/config", False, [b for k in keys for b in bodies({}, k)]),
        ("POST", "/api/config/import", False,
         [("settings", '{"format": "wallbox-config", "settings": {%s}}'
           % ", ".join('"%s": %s' % (k, v) for k in keys)) for v in VALUES] +
         [("cards", '{"format": "wallbox-config", "settings": {}, "cards": %s}' % v)
          for v in VALUES] +
         [("cards.version", '{"format": "wallbox-config", "settings": {}, "cards": '
           '{"version": %s, "master": "", "cards": {}}}' % v) for v in VALUES]),
    ]
    for method, path, tok, _ in list(out):  # the body itself hostile
        out.append((method, path, tok, [("", v) for v in VALUES]))
    return out


def saved_settings(w):
    with open(os.path.join(w.state_dir, "config.json")) as f:
        doc = json.loads(f.read())
    doc = doc.get("data", doc)
    return doc.get("s", doc)


def test_hostile_values_in_every_field_get_a_clean_answer(start_board):
    # The run's heap (tools/vboard RUN_HEAP, a Pico 2 W): the fuzz switches every service
    # on (MQTT, planning, price feed, backend settings...), then sends 20 KB imports;
    # with everything on, the 384k of a Pico W class board runs out (issue 12's floor).
    w = start_web_board(start_board, plugged=True, heap=RUN_HEAP)
    c = Client(w).set_up()
    w.wait_for(charging, 20)
    token = c.post("/api/tokens", {"label": "fuzz"})[1]["token"]
    values = c.get("/api/config")[1]["values"]
    kinds = {k: type(v) for k, v in values.items()}
    seen = {}
    for method, path, with_token, cases in routes(sorted(values)):
        for field, text in cases:
            st, r, _ = c.request(method, path, text.encode(),
                                 headers={"Content-Type": "application/json"},
                                 token=token if with_token else None)
            seen[st] = seen.get(st, 0) + 1
            where = (method, path, field, text[:80], st, r)
            assert 200 <= st < 300 or 400 <= st < 500, where
            assert isinstance(r, dict), where
            if st >= 400:
                assert isinstance(r.get("error"), str) and r["error"], where
                assert "Traceback" not in r["error"] and "Error" not in r["error"], where
        assert charging(w), (method, path, w.state()["firmware"])
    for v in VALUES:  # the query string of the log
        st, r, _ = c.get("/api/log?n=" + quote(v))
        assert st in (200, 400), (v, st, r)
    # every setting still has its type, in RAM and on flash
    now = c.get("/api/config")[1]["values"]
    assert {k: type(v) for k, v in now.items()} == kinds
    saved = saved_settings(w)
    for k, v in saved.items():
        assert type(v) is kinds[k] and (v == now[k] or k.endswith(("password", "key"))), k
    assert seen.get(400, 0) > 1000, seen
    assert charging(w) and w.state()["firmware"]["offered_a"] <= 32
    assert c.get("/api/v1/status")[0] == 200
    assert not [x for x in w.console if "Traceback" in x or "crashed" in x
                or x.startswith("web:")], w.console[-40:]
