"""The web interface's requests other than the status, the static files and the local
API: login, session, password and recovery, settings, API tokens, the wizard flag,
configuration export and import, browser time, Wi-Fi scan, meter test, the card list,
the data log, restart, factory reset and software update. Imported when one of them
comes and dropped again when the pages are idle (services/web/server.py), so a box nobody
looks at does not pay for it. Each function takes the Web object and the request (and a
path argument)."""
import asyncio
import hashlib
import os
from time import ticks_add, ticks_diff, ticks_ms

from micropython import const

from microdot.microdot import Response

from firmware.core import limits, webauth
from firmware.services.platform import datalog
from firmware.services.platform.config import save_json
from firmware.services.platform.log import ERROR, INFO
from firmware.services.platform.supervisor import stepwise
from firmware.services.web.common import ACCOUNT, _body, _err

_IO_MS = const(10000)  # each piece of an upload
_SESSIONS = const(4)
_TOKENS = const(8)


def save(web, acct):
    save_json(ACCOUNT, acct)
    web.acct = acct


def new_session(web, must_change):
    if len(web.sessions) >= _SESSIONS:
        web.sessions.pop(0)
    s = [os.urandom(16).hex(), os.urandom(16).hex(),
         ticks_add(ticks_ms(), web.app.config.get("web.session_min") * 60000),
         must_change]
    web.sessions.append(s)
    res = Response({"csrf": s[1], "must_change": must_change,
                    "wizard": bool(web.acct.get("wizard"))})
    res.headers["Set-Cookie"] = "sid=%s; Path=/; HttpOnly; SameSite=Strict" % s[0]
    return res


async def hash_pw(web, pw, salt, n):
    return await stepwise(webauth.steps(pw, salt, n))


async def guarded(web, fn):
    """Run a password check with the back-off: refused while waiting or busy."""
    now = ticks_ms()
    left = ticks_diff(web.wait_until, now)
    if left > 0:
        r = _err(429, "too many failed attempts: wait %d s" % ((left + 999) // 1000),
                 wait_s=(left + 999) // 1000)
        r.headers["Retry-After"] = str((left + 999) // 1000)
        return r
    if web.checking:
        return _err(429, "another login is being checked", wait_s=1)
    web.checking = True
    try:
        ok = await fn()
    finally:
        web.checking = False
    if ok is None:
        web.fails += 1
        web.wait_until = ticks_add(ticks_ms(), webauth.wait_s(web.fails) * 1000)
        web.log.add(ERROR, "web: failed login (%d in a row)" % web.fails)
        return None
    web.fails = 0
    return ok


async def login(web, req):
    b = _body(req)
    user = b.get("user")
    pw = b.get("password")
    if not isinstance(user, str) or not isinstance(pw, str) or len(pw) > 128:
        raise ValueError(400, "user and password are needed")
    a = web.acct

    async def verify():
        if not a:  # never set: the serial number, then a new password at once
            return True if user == "admin" and webauth.same(pw, web.prov["serial"]) \
                else None
        good = await hash_pw(web, pw, bytes.fromhex(a["salt"]), a["n"])
        return True if user == a.get("user", "admin") and \
            webauth.same(good.hex(), a["hash"]) else None

    ok = await guarded(web, verify)
    if ok is None:
        return _err(401, "wrong user name or password")
    if isinstance(ok, Response):
        return ok
    web.log.add(INFO, "web: %s logged in" % user)
    return new_session(web, not a)


async def logout(web, req):
    s = req.g.s
    if s in web.sessions:
        web.sessions.remove(s)
    res = Response({"ok": True})
    res.headers["Set-Cookie"] = "sid=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
    return res


async def session(web, req):
    s = req.g.s
    return {"user": web.acct.get("user", "admin"), "csrf": s[1], "must_change": s[3],
            "wizard": bool(web.acct.get("wizard"))}


async def config_get(web, req):
    from firmware.services.platform.configdoc import SECRET
    v = dict(web.app.config.values)
    is_set = []
    for k in SECRET:
        if v.get(k):
            is_set.append(k)
        v[k] = ""
    return {"values": v, "secrets_set": is_set, "dip_a": limits.DIP_DA[web.app.dip] / 10}


async def config(web, req):
    changes = _body(req)
    if not changes:
        raise ValueError(400, "no settings given")
    from firmware.services.platform import configdoc
    await asyncio.sleep_ms(0)  # loading it (after the idle admin.py was dropped) was a step
    errors, restart = await configdoc.apply(web.app, changes, "web")
    if errors:
        return _err(400, "not saved: %d setting(s) refused" % len(errors), errors=errors)
    return {"ok": True, "restart": restart}


async def recover(web, req):
    code = _body(req).get("recovery")
    want = web.prov.get("recovery_password")
    if not isinstance(code, str) or not want:
        raise ValueError(400, "the recovery password from the configuration label")

    async def verify():
        return True if webauth.same(code.strip(), want) else None

    ok = await guarded(web, verify)
    if ok is None:
        return _err(401, "wrong recovery password")
    if isinstance(ok, Response):
        return ok
    web.log.add(INFO, "web: recovery password used")
    web.sessions = []
    return new_session(web, True)


async def password(web, req):
    b = _body(req)
    new = b.get("new")
    s = req.g.s
    a = web.acct
    user = a.get("user", "admin")
    if not s[3]:  # a normal change needs the current password
        old = b.get("old")
        good = await hash_pw(web, old, bytes.fromhex(a["salt"]), a["n"]) \
            if isinstance(old, str) and a else b""
        if not webauth.same(good.hex(), a.get("hash", "-")):
            return _err(400, "the current password is wrong", errors={"old": "wrong"})
    why = webauth.password_problem(new, user)
    if why is None and webauth.same(new, web.prov["serial"]):
        why = "must not be the serial number"
    if why:
        return _err(400, "new password " + why, errors={"new": why})
    salt = os.urandom(16)
    n = webauth.ITERATIONS
    acct = dict(a)
    good = await hash_pw(web, new, salt, n)
    acct.update(user=user, salt=salt.hex(), n=n, hash=good.hex())
    save(web, acct)
    s[3] = False
    web.sessions = [s]  # everyone else logs in again
    web.log.add(INFO, "web: password changed")
    return {"ok": True, "wizard": bool(acct.get("wizard"))}


async def user(web, req):
    return {"user": web.acct.get("user", "admin"),
            "recovery": web.prov.get("recovery_password", ""),
            "tokens": [{"id": k, "label": v[0]} for k, v in
                       web.acct.get("tokens", {}).items()]}


async def tokens(web, req):
    label = _body(req).get("label", "")
    if not isinstance(label, str) or not 1 <= len(label) <= 32:
        return _err(400, "label: 1 to 32 characters", errors={"label": "1 to 32 characters"})
    t = dict(web.acct.get("tokens", {}))
    if len(t) >= _TOKENS:
        return _err(409, "at most %d API tokens: revoke one first" % _TOKENS)
    token = os.urandom(24).hex()
    tid = os.urandom(4).hex()
    t[tid] = [label, hashlib.sha256(token.encode()).digest().hex()]
    acct = dict(web.acct)
    acct["tokens"] = t
    save(web, acct)
    web.log.add(INFO, "web: API token %s created" % tid)
    return {"id": tid, "label": label, "token": token}


async def token_remove(web, req, tid):
    t = dict(web.acct.get("tokens", {}))
    if tid not in t:
        return _err(404, "no such token")
    del t[tid]
    acct = dict(web.acct)
    acct["tokens"] = t
    save(web, acct)
    web.log.add(INFO, "web: API token %s revoked" % tid)
    return {"ok": True}


async def wizard(web, req):
    acct = dict(web.acct)
    acct["wizard"] = bool(_body(req).get("done", True))
    save(web, acct)
    return {"ok": True}


async def export(web, req):
    from firmware.services.platform import configdoc
    await asyncio.sleep_ms(0)  # loaded, made and encoded: a step each
    doc = configdoc.export_doc(web.app, web.version, req.args.get("secrets") == "1")
    await asyncio.sleep_ms(0)
    res = Response(doc)
    res.headers["Content-Disposition"] = \
        'attachment; filename="wallbox-%s-config.json"' % web.prov.get("serial")
    return res


async def config_import(web, req):
    from firmware.services.platform import configdoc
    await asyncio.sleep_ms(0)  # loaded in a step, parsed in the next
    doc = _body(req)
    try:
        restart, ignored = await configdoc.import_doc(web.app, doc, "web")
    except ValueError as e:
        reason, errors = e.args
        return _err(400, reason, errors=errors) if errors else _err(400, reason)
    return {"ok": True, "restart": restart, "ignored": ignored}


async def set_time(web, req):
    t = _body(req).get("epoch_s")
    if isinstance(t, bool) or not isinstance(t, (int, float)) or \
            not 1735689600 <= t < 4102444800:
        raise ValueError(400, "epoch_s: the browser's time in Unix seconds")
    try:
        from firmware.services.net.network import set_clock
        set_clock(int(t), "browser")
    except ImportError:  # a port without networking: keep an offset for the log
        import time
        datalog.clock_offset_s = int(t - time.time())
    web.log.add(INFO, "clock set from the browser: " + datalog.stamp())
    return {"ok": True, "time": datalog.stamp()}


async def scan(web, req):
    n = getattr(web.app, "net", None)
    if n is None:
        return _err(409, "this board has no Wi-Fi")
    if web.app.control.charger.relay:  # ~2 s in C: the relay's keep-alive would drop
        return _err(409, "no Wi-Fi scan while charging")
    try:
        nets = n.scan()
    except OSError as e:
        return _err(503, "scan failed: %s" % e)
    return {"networks": [{"ssid": s, "rssi": r} for s, r in nets if s]}


async def meter_test(web, req):
    which = _body(req).get("which")
    if which not in ("grid", "solar"):
        raise ValueError(400, "which: grid or solar")
    try:
        return await asyncio.wait_for_ms(web.app.meters.test_connection(which), 15000)
    except asyncio.TimeoutError:
        return {"ok": False, "error": "no answer within 15 s"}


async def mqtt_test(web, req):
    try:
        return await asyncio.wait_for_ms(web.app.mqtt.test_connection(), 15000)
    except asyncio.TimeoutError:
        return {"ok": False, "error": "no answer within 15 s"}


async def cards_get(web, req):
    try:
        doc = web.app.rfid.entries()
    except ValueError as e:
        return _err(500, "card list unreadable: %s" % e)
    return {"enabled": web.app.rfid.auth.enabled, "master": doc["master"],
            "cards": [{"uid": u, "label": doc["cards"][u]} for u in doc["cards"]]}


async def cards(web, req):
    b = _body(req)
    return done(web.app.rfid.add(b.get("uid"), b.get("label", "")))


async def card_label(web, req, uid):
    return done(web.app.rfid.set_label(uid, _body(req).get("label", "")))


async def card_remove(web, req, uid):
    return done(web.app.rfid.remove(uid))


def done(why):
    return _err(400, why) if why else {"ok": True}


async def log(web, req):
    try:
        n = min(500, max(1, int(req.args.get("n", "100"))))
    except ValueError:
        raise ValueError(400, "n: a number of lines")
    return {"lines": [x.rstrip("\n") for x in web.app.datalog.newest(n)]}


async def log_all(web, req):
    web.app.datalog.flush()
    res = Response(web.app.datalog.chunks(), 200, {
        "Content-Type": "text/plain; charset=utf-8",
        "Content-Disposition": 'attachment; filename="wallbox-%s-log.txt"'
                               % web.prov.get("serial")})
    return res


async def log_all_gz(web, req):
    """Download All as gzip, compressed while it is sent (core/gzip.py: constant RAM)."""
    from firmware.core.gzip import gzip_chunks
    web.app.datalog.flush()
    return Response(gzip_chunks(web.app.datalog.chunks()), 200, {
        "Content-Type": "application/gzip",
        "Content-Disposition": 'attachment; filename="wallbox-%s-log.txt.gz"'
                               % web.prov.get("serial")})


async def restart(web, req):
    asyncio.create_task(later(web, "restart from the web interface"))
    return {"ok": True}


async def factory_reset(web, req):
    """Back to the state as delivered (Config.factory_reset: settings, password, API
    tokens, cards, the backend's records), then a restart. Needs the admin password and
    "confirm": true; provisioning (the label's passwords), the software and the data log
    stay."""
    b = _body(req)
    pw = b.get("password")
    if b.get("confirm") is not True or not isinstance(pw, str) or len(pw) > 128:
        raise ValueError(400, "the admin password and \"confirm\": true are needed")
    a = web.acct

    async def verify():
        good = await hash_pw(web, pw, bytes.fromhex(a["salt"]), a["n"])
        return True if webauth.same(good.hex(), a["hash"]) else None

    ok = await guarded(web, verify)
    if ok is None:
        return _err(400, "the password is wrong", errors={"password": "wrong"})
    if isinstance(ok, Response):
        return ok
    asyncio.create_task(reset_later(web))
    return {"ok": True, "restart": True}


async def reset_later(web):
    await asyncio.sleep_ms(500)  # the answer goes out first
    a = web.app
    a.stop()  # the relay open first: deleting files may erase flash (flashgate.py)
    a.config.factory_reset()  # and at once the reset: nothing may save a file between
    a.restart("factory reset from the web interface")


async def later(web, reason):
    await asyncio.sleep_ms(500)  # the answer goes out first
    web.app.restart(reason)


async def update(web, req):
    """A software update bundle as the raw request body (streamed to flash)."""
    from firmware.services.platform.update import UpdateBusy, UpdateError
    n = req.content_length
    if not n:
        return _err(411, "send the bundle as the body, with its Content-Length")
    job = getattr(web, "install", None)
    if web.updating or (job is not None and job.state == "downloading"):
        return _err(409, "an update is already running")
    web.updating = True
    u = web.app.updater()
    reader = req.sock[0]
    try:
        await u.begin(n)
        left = n
        data = req.g.rest[:n]
        req.g.rest = None
        while True:
            if data:
                rest = u.write_some(data)
                while rest is not None:  # a file of the bundle done: the rest in a next step
                    await asyncio.sleep_ms(0)
                    rest = u.write_some(rest)
                left -= len(data)
            if left <= 0:
                break
            data = await asyncio.wait_for_ms(reader.read(min(left, 1024)), _IO_MS)
            if not data:
                raise UpdateError("upload interrupted at %d of %d bytes" % (n - left, n))
        version = await u.finish()
    except (UpdateError, asyncio.TimeoutError, OSError) as e:
        why = str(e) or "upload stalled"
        if u.busy:
            u.abort(why)
        web.updating = False
        return _err(409 if isinstance(e, UpdateBusy) else 400, why)
    asyncio.create_task(later(web, "software update to " + version))
    return {"ok": True, "version": version, "restart": True}


async def update_check(web, req):
    """Fetch and verify the release record at update.url (net/release.py)."""
    from firmware.services.net import release
    from firmware.services.platform.update import UpdateError
    a = web.app
    if a.control.charger.relay:
        return _err(409, release.NOT_WHILE_CHARGING)
    try:
        r = await release.check(a.config.get("update.url"), a.updater().key, a.board.NAME)
    except UpdateError as e:
        web.log.add(ERROR, "update check: " + str(e))
        return _err(400, str(e))
    web.release = r
    return r


async def update_install(web, req):
    """Download & Install the release the last check found, in the background; the
    progress comes from GET /api/update/status."""
    from firmware.services.net import release
    from firmware.services.platform.update import refusal
    r = getattr(web, "release", None)
    job = getattr(web, "install", None)
    if r is None:
        return _err(409, "check for an update first")
    if web.updating or (job is not None and job.state == "downloading"):
        return _err(409, "an update is already running")
    if web.app.control.charger.relay:
        return _err(409, release.NOT_WHILE_CHARGING)
    why = refusal()  # the backend's update, a version on trial
    if why:
        return _err(409, why)
    job = web.install = release.Install(web.app, r)
    asyncio.create_task(job.run())
    return job.status()


async def update_status(web, req):
    job = getattr(web, "install", None)
    return job.status() if job is not None else {"state": "idle"}
