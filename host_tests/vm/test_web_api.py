"""The web interface's JSON API against the firmware in the VM on the virtual board, over
real sockets: first login and password, recovery, status while charging, settings that
are validated, saved and applied, the local API (tokens, start, stop, current) with and
without authorization, cards, export/import, the data log, update upload, restart."""
import json
import os
import re
import time

from webclient import (PASSWORD, RECOVERY, SERIAL, Client, charging, start_web_board,
                       wait_web)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def saved_settings(w):
    with open(os.path.join(w.state_dir, "config.json")) as f:
        text = f.read()
    doc = json.loads(text)
    doc = doc.get("data", doc)
    return doc.get("s", doc)


def test_first_login_with_the_serial_forces_a_new_password(start_board):
    w = start_web_board(start_board)
    c = Client(w)
    assert c.login("wrong")[0] == 401
    st, r, h = c.login(SERIAL)
    assert st == 200 and r["must_change"] is True
    assert "HttpOnly" in h["set-cookie"] and "SameSite=Strict" in h["set-cookie"]
    # nothing but the password change until it is done
    st, r, _ = c.get("/api/v1/status")
    assert st == 403 and r["must_change"]
    assert c.post("/api/config", {"device.showroom": True})[0] == 403
    st, r, _ = c.post("/api/password", {"new": "short"})
    assert st == 400 and "8 to 64" in r["errors"]["new"]
    st, r, _ = c.post("/api/password", {"new": SERIAL})
    assert st == 400 and "serial" in r["errors"]["new"]
    st, r, _ = c.post("/api/password", {"new": PASSWORD})
    assert st == 200 and r["wizard"] is False
    assert c.get("/api/v1/status")[0] == 200
    # the serial number is no password any more; the new one is, stored hashed
    assert Client(w).login(SERIAL)[0] == 401
    st, r, _ = Client(w).login(PASSWORD)
    assert st == 200 and r["must_change"] is False
    acct = open(os.path.join(w.state_dir, "web.json")).read()
    assert PASSWORD not in acct and '"n": ' in acct and '"salt": ' in acct
    # logout ends the session
    assert c.post("/api/logout")[0] == 200
    assert c.get("/api/v1/status")[0] == 401


def test_the_recovery_password_leads_to_new_user_settings(start_board):
    w = start_web_board(start_board)
    Client(w).set_up()
    c = Client(w)
    assert c.post("/api/recover", {"recovery": "not-it"})[0] == 401
    st, r, _ = c.post("/api/recover", {"recovery": RECOVERY})
    assert st == 200 and r["must_change"]
    assert c.get("/api/config")[0] == 403
    assert c.post("/api/password", {"new": "a-brand-new-one"})[0] == 200
    assert Client(w).login(PASSWORD)[0] == 401
    assert Client(w).login("a-brand-new-one")[0] == 200
    st, r, _ = c.get("/api/user")
    assert st == 200 and r["recovery"] == RECOVERY  # shown under the user settings


def test_status_follows_a_charging_session(start_board):
    w = start_web_board(start_board, {"charging.max_current_a": 16})
    c = Client(w).set_up()
    st, s, _ = c.get("/api/v1/status")
    assert st == 200 and s["status"] == "Idle" and s["serial"] == SERIAL
    assert s["type"].startswith("AC wallbox") and s["net"][0]["ip"] == "192.168.2.1"
    assert s["net"][0]["name"] == "hotspot" and s["net"][0]["mac"] == "02:00:00:00:01:01"
    w.set(plugged=True)
    w.wait_for(charging, 20)
    # energy adds up, the chart gets a point every 10 s (counted by a task that runs once
    # a second, later on a busy host): asked until that point is there
    deadline = time.monotonic() + 60
    while True:
        st, s, _ = c.get("/api/v1/status")
        if s["chart"]["a"] or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert s["status"] == "Charging" and s["vehicle"] and s["relay"]
    assert s["offered_a"] == 16.0 and s["limit_by"] == "configured"
    assert max(s["current_a"]) > 10 and s["power_w"] > 5000
    assert s["energy_wh"] > 0 and not s["showroom"]
    assert len(s["chart"]["a"]) >= 1 and max(s["chart"]["a"]) > 20
    # the session's duration: since the once-a-second task saw the plug-in; the chart's
    # first point comes 9 such seconds later
    assert s["session_s"] >= 9
    w.set(plugged=False)
    w.wait_for(lambda w: w.fault() == 1, 5)
    st, s, _ = c.get("/api/v1/status")
    assert s["fault"] == 1 and "disconnected" in s["fault_text"]
    assert s["status"] == "RecoverFromError"
    # after the unplug the last session's duration stays, once the once-a-second task
    # has seen the unplug (later than the fault on a busy host): asked until it holds
    last, deadline = s["session_s"], time.monotonic() + 15
    while True:
        time.sleep(1.5)  # longer than that task's period
        now = c.get("/api/v1/status")[1]["session_s"]
        if now == last or time.monotonic() > deadline:
            break
        last = now
    assert now == last and last >= 9


def test_settings_are_validated_saved_atomically_and_applied(start_board):
    w = start_web_board(start_board, dip=8)  # 32 A installation maximum
    c = Client(w).set_up()
    before = saved_settings(w)
    bad = {"charging.max_current_a": 40, "net.channel": 99, "net.wifi_password": "short",
           "meter.host": "999.1.1.1", "backend.url": "http://x", "no.such": 1,
           "device.showroom": True}
    st, r, _ = c.post("/api/config", bad)
    assert st == 400
    e = r["errors"]
    assert "installation maximum of 32 A" in e["charging.max_current_a"]
    assert "between 1 and 13" in e["net.channel"]
    assert "8 to 63" in e["net.wifi_password"]
    assert "IPv4" in e["meter.host"] and "ws://" in e["backend.url"]
    assert e["no.such"] == "unknown setting"
    # nothing was applied, not even the good value
    assert saved_settings(w) == before
    assert c.get("/api/config")[1]["values"]["device.showroom"] is False
    # a good change is saved and the running charger follows it at once
    st, r, _ = c.post("/api/config", {"charging.max_current_a": 10, "net.channel": 6})
    assert st == 200 and r["restart"] is True  # the hotspot channel: at the next start
    assert saved_settings(w)["charging.max_current_a"] == 10
    w.set(plugged=True)
    w.wait_for(charging, 20)
    w.wait_for(lambda w: w.state()["firmware"]["offered_a"] == 10.0, 10)
    st, s, _ = c.get("/api/v1/status")
    assert s["limit_a"] == 10.0 and s["limit_by"] == "configured"
    st, r, _ = c.post("/api/config", {"charging.max_current_a": 12})
    w.wait_for(lambda w: w.state()["firmware"]["offered_a"] == 12.0, 10)
    # showroom mode stops charging
    assert c.post("/api/config", {"device.showroom": True})[0] == 200
    w.wait_for(lambda w: not w.relay_closed(), 10)
    # secrets are not sent back
    assert c.post("/api/config", {"proxy.password": "pr0xy-secret"})[0] == 200
    v = c.get("/api/config")[1]
    assert v["values"]["proxy.password"] == "" and "proxy.password" in v["secrets_set"]


def test_local_api_with_a_token_starts_stops_and_sets_the_current(start_board):
    w = start_web_board(start_board)
    c = Client(w).set_up()
    st, t, _ = c.post("/api/tokens", {"label": "home automation"})
    assert st == 200 and len(t["token"]) == 48
    api = Client(w)  # no cookie: the token alone
    assert api.get("/api/v1/status")[0] == 401
    st, s, _ = api.get("/api/v1/status", token=t["token"])
    assert st == 200 and s["status"] == "Idle"
    assert api.post("/api/config", {"device.showroom": True}, token=t["token"])[0] == 401
    st, r, _ = api.post("/api/v1/current", {"current_a": 8}, token=t["token"])
    assert st == 409 and "no vehicle" in r["error"]
    w.set(plugged=True)
    w.wait_for(charging, 20)
    for bad in (5, 33, "8", True, None):
        st, r, _ = api.post("/api/v1/current", {"current_a": bad}, token=t["token"])
        assert st == 400 and "6 to 32" in r["error"], bad
    st, r, _ = api.post("/api/v1/current", {"current_a": 8}, token=t["token"])
    assert st == 200 and r["current_a"] == 8.0
    w.wait_for(lambda w: w.state()["firmware"]["offered_a"] == 8.0, 10)
    assert api.get("/api/v1/status", token=t["token"])[1]["app_a"] == 8.0
    # stop: the app withholds the release (authorization is off)
    assert api.post("/api/v1/stop", token=t["token"])[0] == 200
    w.wait_for(lambda w: w.status() == "Suspended" and not w.relay_closed(), 10)
    assert api.post("/api/v1/start", token=t["token"])[0] == 200
    w.wait_for(charging, 15)
    # the app's claim ends with the session
    w.set(plugged=False)
    w.wait_for(lambda w: not w.relay_closed(), 5)
    deadline = time.monotonic() + 5  # the session task sees the unplug within a second

    def app_a():
        return api.get("/api/v1/status", token=t["token"])[1]["app_a"]
    while app_a() is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert app_a() is None
    # a revoked token is refused
    assert c.request("DELETE", "/api/tokens/" + t["id"])[0] == 200
    assert api.get("/api/v1/status", token=t["token"])[0] == 401
    assert api.get("/api/v1/status", token="0" * 48)[0] == 401


def test_with_authorization_the_app_starts_like_a_card_and_stop_takes_it_back(start_board):
    w = start_web_board(start_board, {"auth.enabled": True})
    c = Client(w).set_up()
    w.set(plugged=True)
    w.wait_for(lambda w: w.status() == "ReadyForCharging", 15)
    time.sleep(1)
    assert not w.relay_closed()  # no card, no charging
    assert c.post("/api/v1/start")[0] == 200
    w.wait_for(charging, 15)
    assert c.post("/api/v1/stop")[0] == 200
    w.wait_for(lambda w: not w.relay_closed(), 10)
    time.sleep(1)
    assert c.get("/api/v1/status")[1]["authorized"] is False


def test_cards_can_be_listed_labelled_and_removed(start_board):
    w = start_web_board(start_board)
    c = Client(w).set_up()
    assert c.post("/api/cards", {"uid": "04a1b2c3d4e5f6", "label": "Anna"})[0] == 200
    st, r, _ = c.post("/api/cards", {"uid": "XYZ", "label": "x"})
    assert st == 400 and "hex" in r["error"]
    assert c.request("PUT", "/api/cards/04A1B2C3D4E5F6", {"label": "Anna's car"})[0] == 200
    st, r, _ = c.get("/api/cards")
    assert r["cards"] == [{"uid": "04A1B2C3D4E5F6", "label": "Anna's car"}]
    assert c.request("DELETE", "/api/cards/04A1B2C3D4E5F6")[0] == 200
    assert c.get("/api/cards")[1]["cards"] == []
    assert c.request("DELETE", "/api/cards/04A1B2C3D4E5F6")[0] == 400


def test_configuration_export_and_import(start_board):
    w = start_web_board(start_board)
    c = Client(w).set_up()
    c.post("/api/config", {"house.fuse_a": 35, "proxy.password": "pr0xy-secret"})
    c.post("/api/cards", {"uid": "A1B2C3D4", "label": "garage"})
    st, doc, h = c.get("/api/config/export")
    assert st == 200 and "attachment" in h["content-disposition"]
    assert doc["settings"]["house.fuse_a"] == 35 and "proxy.password" not in doc["settings"]
    assert doc["cards"]["cards"] == {"A1B2C3D4": "garage"}
    assert c.get("/api/config/export?secrets=1")[1]["settings"]["proxy.password"] == "pr0xy-secret"
    # onto a fresh charger
    w2 = start_web_board(start_board)
    c2 = Client(w2).set_up()
    bad = dict(doc, settings=dict(doc["settings"], **{"net.channel": 0}))
    st, r, _ = c2.post("/api/config/import", bad)
    assert st == 400 and "net.channel" in r["errors"]
    assert c2.get("/api/config")[1]["values"]["house.fuse_a"] == 25  # nothing imported
    doc["settings"]["from.newer.firmware"] = 1
    st, r, _ = c2.post("/api/config/import", doc)
    assert st == 200 and r["ignored"] == ["from.newer.firmware"]
    assert c2.get("/api/config")[1]["values"]["house.fuse_a"] == 35
    assert c2.get("/api/cards")[1]["cards"] == [{"uid": "A1B2C3D4", "label": "garage"}]
    assert c2.post("/api/config/import", {"format": "x"})[0] == 400


def test_data_log_view_and_download_all(start_board):
    w = start_web_board(start_board)
    c = Client(w).set_up()
    w.set(plugged=True)
    w.wait_for(charging, 20)
    deadline = time.monotonic() + 10
    while True:  # the core's events reach the log within a poll of its task
        st, r, _ = c.get("/api/log?n=50")
        if any("relay closed" in x for x in r["lines"]) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert st == 200 and any("web: admin logged in" in x for x in r["lines"])
    assert any("relay closed" in x for x in r["lines"])
    assert r["lines"][0].split("\t")[0] > r["lines"][-1].split("\t")[0] or len(r["lines"]) == 1
    st, body, h = c.get("/api/log/all")
    assert st == 200 and "attachment" in h["content-disposition"]
    text = body.decode()
    assert "boot: reset cause" in text and "relay closed" in text
    assert c.get("/api/log?n=x")[0] == 400


def test_browser_time_sets_the_clock(start_board):
    w = start_web_board(start_board)
    c = Client(w).set_up()
    t = 1893456000  # 2030-01-01
    st, r, _ = c.post("/api/time", {"epoch_s": t})
    assert st == 200 and r["time"].startswith("2030-01-01")
    assert c.post("/api/time", {"epoch_s": "now"})[0] == 400


def test_software_update_upload_installs_and_restarts(start_board, firmware_build, tmp_path):
    from tools import bundle
    w = start_web_board(start_board)
    c = Client(w).set_up()
    st, r, _ = c.post("/api/update", b"ZIP! this is not a bundle at all" + bytes(200),
                      headers={"Content-Type": "application/octet-stream"})
    assert st == 400 and "bundle" in r["error"]
    # the refused slot is removed in steps after the answer
    w.wait_for(lambda w: not os.path.exists(os.path.join(w.state_dir, "s1")), timeout=30)
    data = bundle.make(bundle.collect(firmware_build), "9.9.9")
    st, r, _ = c.post("/api/update", data, headers={"Content-Type": "application/octet-stream"},
                      timeout=120)
    assert st == 200 and r["version"] == "9.9.9", r
    # the box restarts into the new slot, which serves its own web pages
    time.sleep(3)
    wait_web(w, 60)
    deadline = time.monotonic() + 60
    while True:
        c = Client(w)
        if c.login(PASSWORD)[0] == 200:
            st, s, _ = c.get("/api/v1/status")
            if s.get("version") == "9.9.9":
                break
        assert time.monotonic() < deadline, "the new version did not come up"
        time.sleep(1)
    assert os.path.exists(os.path.join(w.state_dir, "s1", "www", "index.html.gz"))


def test_restart_from_the_web(start_board):
    w = start_web_board(start_board)
    c = Client(w).set_up()
    boots = len([x for x in w.console if "boot: reset cause" in x])
    assert c.post("/api/restart")[0] == 200
    w.wait_for(lambda w: len([x for x in w.console if "boot: reset cause" in x]) > boots, 30)
    wait_web(w)
    assert Client(w).login(PASSWORD)[0] == 200  # the account survives, sessions do not


def test_every_field_of_the_pages_is_a_setting(start_board):
    w = start_web_board(start_board)
    c = Client(w).set_up()
    values = c.get("/api/config")[1]["values"]
    with open(os.path.join(ROOT, "firmware", "web", "app.js")) as f:
        js = f.read()
    keys = set(re.findall(r'^\s+"([a-z]+\.[a-z_0-9]+)": \[', js, re.M))
    assert len(keys) > 30
    assert keys <= set(values), keys - set(values)
    # choices offered by the pages are accepted by the schema
    for k in ("meter.model", "meter.transport", "charging.mode", "meter.baud"):
        line = re.search(r'"%s": \[(.*)\],?$' % re.escape(k), js, re.M).group(1)
        opts = re.search(r'\[([^\[\]]*)\]$', line)
        options = json.loads("[" + opts.group(1) + "]") if opts else None
        if options:
            for o in options:
                assert c.post("/api/config", {k: o})[0] == 200, (k, o)


def test_static_files_are_gzipped_cached_and_within_budget(start_board):
    w = start_web_board(start_board)
    c = Client(w)
    st, body, h = c.get("/")
    assert st == 200 and h["content-encoding"] == "gzip" and h["cache-control"] == "no-cache"
    etag = h["etag"]
    assert c.get("/", headers={"If-None-Match": etag})[0] == 304
    st, body, h = c.get("/app.js?v=" + etag.strip('"'))
    assert st == 200 and "immutable" in h["cache-control"]
    total = sum(os.path.getsize(os.path.join(w.state_dir, "www", n))
                for n in os.listdir(os.path.join(w.state_dir, "www")))
    assert total <= 40 * 1024
    for n in ("help.html", "licence.txt", "style.css"):
        assert c.get("/" + n)[0] == 200


def test_factory_reset_from_the_web_keeps_what_the_manual_keeps(start_board):
    """The System page's factory reset: the password and a confirmation first; then the
    user's settings, password, tokens and cards are gone, the configuration label's
    (provisioning) and the data log stay, and the charger restarts and charges again."""
    w = start_web_board(start_board, plugged=True)
    c = Client(w).set_up()
    w.wait_for(charging, 20)
    assert c.post("/api/config", {"house.fuse_a": 35, "net.hostname": "garage"})[0] == 200
    assert c.post("/api/cards", {"uid": "A1B2C3D4", "label": "garage"})[0] == 200
    token = c.post("/api/tokens", {"label": "home"})[1]["token"]
    assert c.post("/api/wizard", {"done": True})[0] == 200
    prov = open(os.path.join(w.state_dir, "prov.json")).read()
    files = sorted(os.listdir(w.state_dir))
    # refused: without the confirmation, with a wrong password, with no session
    st, r, _ = c.post("/api/factory-reset", {"password": PASSWORD})
    assert st == 400 and "confirm" in r["error"]
    st, r, _ = c.post("/api/factory-reset", {"password": "not-it", "confirm": True})
    assert st == 400 and r["errors"] == {"password": "wrong"}
    assert Client(w).post("/api/factory-reset", {"password": PASSWORD, "confirm": True})[0] == 401
    assert Client(w).post("/api/factory-reset", {"password": PASSWORD, "confirm": True},
                          token=token)[0] == 401  # an API token is not the administrator
    # (while it charges, the settings wait in RAM and the journal: services/platform/flashgate.py)
    assert sorted(os.listdir(w.state_dir)) == files
    assert c.get("/api/config")[1]["values"]["house.fuse_a"] == 35
    time.sleep(1.1)  # the failed try's back-off
    boots = len([x for x in w.console if "boot: reset cause" in x])
    st, r, _ = c.post("/api/factory-reset", {"password": PASSWORD, "confirm": True})
    assert st == 200 and r["restart"] is True
    w.wait_for(lambda w: len([x for x in w.console if "boot: reset cause" in x]) > boots, 30)
    wait_web(w)
    left = set(os.listdir(w.state_dir))
    for gone in ("web.json", "cards.json"):
        assert not any(f.startswith(gone) for f in left), left
    assert not os.path.exists(os.path.join(w.state_dir, "config.json")) or \
        saved_settings(w) == {}
    assert open(os.path.join(w.state_dir, "prov.json")).read() == prov  # the label's secrets
    assert "log" in left
    # as delivered: the serial number is the password again, the settings are defaults
    assert Client(w).login(PASSWORD)[0] == 401
    fresh = Client(w).set_up()
    values = fresh.get("/api/config")[1]["values"]
    assert values["house.fuse_a"] == 25 and values["net.hostname"] == ""
    assert fresh.get("/api/cards")[1]["cards"] == []
    assert fresh.get("/api/user")[1]["tokens"] == []
    assert fresh.get("/api/v1/status", token=token)[0] in (401, 403)
    assert fresh.get("/api/user")[1]["recovery"] == RECOVERY
    log = fresh.get("/api/log?n=200")[1]["lines"]
    assert any("factory reset" in x for x in log) and any("relay closed" in x for x in log)
    w.wait_for(charging, 30)  # the car still plugged charges again, safely restarted
    assert not [x for x in w.console if "crashed" in x or "safe mode" in x]
