"""The backend's less frequent CALLs: the local authorization list, the diagnostics
upload and the software update (OCPP 1.6J LocalAuthListManagement and
FirmwareManagement). Loaded for those CALLs only, and dropped after them.
"""
import asyncio
from time import ticks_diff, ticks_ms

from micropython import const

from firmware.core import ocpp
from firmware.core import ocpp_calls as oc
from firmware.core.ocpp_calls import need
from firmware.services.net import websocket
from firmware.services.ocpp.common import LIST, version
from firmware.services.platform.config import save_json
from firmware.services.platform.log import ERROR, INFO

_ENTRIES_PER_STEP = const(8)  # local list entries checked per step (SendLocalList)
_ACCEPTED = {"status": "Accepted"}


def SendLocalList(b, p):
    """A generator (link._steps): a few entries checked per step."""
    kind = p["updateType"]
    need(kind in ("Full", "Differential"), "updateType")
    if not b.keys["LocalAuthListEnabled"]:
        return {"status": "NotSupported"}
    doc = {"v": 0, "e": {}} if kind == "Full" else b.local_list()
    if kind == "Differential" and p["listVersion"] <= doc.get("v", 0):
        return {"status": "VersionMismatch"}
    e = doc.setdefault("e", {})
    for i, item in enumerate(p.get("localAuthorizationList") or ()):
        if i % _ENTRIES_PER_STEP == _ENTRIES_PER_STEP - 1:
            yield
        oc.check(oc.AUTH_ENTRY, item)
        info = item.get("idTagInfo")
        if info is None:
            e.pop(item["idTag"], None)
        else:
            oc.check(oc.TAG_INFO, info)
            e[item["idTag"][:20]] = [info["status"], info.get("expiryDate"),
                                     info.get("parentIdTag")]
    if len(e) > 64:  # LocalAuthListMaxLength
        return {"status": "Failed"}
    doc["v"] = p["listVersion"]
    yield  # the file is written in a step of its own
    try:
        save_json(LIST, doc)
    except OSError as err:
        b.note(ERROR, "local list not saved: %s" % err)
        return {"status": "Failed"}
    b.note(INFO, "local list version %d, %d entries" % (doc["v"], len(e)))
    return _ACCEPTED


# -------------------------------------------------------------- Firmware management
def GetDiagnostics(b, p):
    url = p["location"]
    if getattr(b.app, "datalog", None) is None or not url.startswith(("http://", "https://")):
        b.note(ERROR, "diagnostics upload to %.40s not supported" % url)
        return {}
    name = "log-%s.txt" % b.cfg.prov.get("serial", "wallbox")
    b.after = lambda: _upload(b, url, name, p.get("retries") or 0)
    return {"fileName": name}


async def _upload(b, url, name, retries):
    dl = b.app.datalog
    b.push("DiagnosticsStatusNotification", {"status": "Uploading"})
    for _ in range(retries + 1):
        try:
            dl.flush()
            code = await upload(url, dl.chunks, name)
            if 200 <= code < 300:
                b.note(INFO, "data log uploaded")
                b.push("DiagnosticsStatusNotification", {"status": "Uploaded"})
                return
            why = "HTTP %d" % code
        except Exception as e:  # noqa: BLE001 - any failure is reported, not raised
            why = str(e) or type(e).__name__
        b.note(ERROR, "data log upload failed (%s)" % why)
        await asyncio.sleep_ms(5000)
    b.push("DiagnosticsStatusNotification", {"status": "UploadFailed"})


async def upload(url, chunks, name, timeout_ms=15000):
    """HTTP PUT of the text from `chunks()` (called twice: length, then content) to
    url + name when the URL ends with "/", else to the URL. Returns the HTTP status."""
    secure, host, port, path = websocket.parse_url(url)
    if path.endswith("/"):
        path += name
    size = 0
    for c in chunks():
        size += len(c)
    s = await websocket.open_stream(host, port, secure, None, None, timeout_ms)
    try:
        s.write(("PUT %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: text/plain\r\n"
                 "Content-Length: %d\r\nConnection: close\r\n\r\n" % (
                     path, host, port, size)).encode())
        await s.drain()
        for c in chunks():
            s.write(c.encode())
            await s.drain()
        status, _ = await asyncio.wait_for_ms(websocket.read_head(s), timeout_ms)
        return status
    finally:
        await websocket.close_stream(s)


def UpdateFirmware(b, p):
    b.fw = [p["location"], ocpp.to_unix(p["retrieveDate"]), p.get("retries") or 0,
            p.get("retryInterval") or 60]
    b.note(INFO, "software update from %.60s at %s" % (p["location"], p["retrieveDate"]))
    return {}


async def update(b, fw):
    """Download and install with the platform's update service, then restart into it."""
    def status(s):
        b.st["fw"] = s
        b.save()
        b.push("FirmwareStatusNotification", {"status": s})
    from firmware.services.platform.update import refusal
    b.st["fw_from"] = version()  # what runs now; after the restart: did it change?
    failed = "DownloadFailed"
    for _ in range(fw[2] + 1):
        why = refusal()  # another update (the web's) runs, or a version is on trial
        if why:  # nothing downloaded: this attempt is refused, the next may do
            b.note(ERROR, "software update refused: %s" % why)
            failed = "InstallationFailed"
            await asyncio.sleep_ms(fw[3] * 1000)
            continue
        failed = "DownloadFailed"
        status("Downloading")
        try:
            from firmware.services.net.download import install_from_url
            await install_from_url(b.app.updater(), fw[0])
            status("Installing")
            t0 = ticks_ms()  # let the notification go out, then start the new version
            while b.out and b.connected and ticks_diff(ticks_ms(), t0) < 5000:
                await asyncio.sleep_ms(100)
            b.stop("Reboot")
            b.st["boot"] = "reset"
            b.save()
            b.app.restart("backend: software update")
            return
        except Exception as e:  # noqa: BLE001 - UpdateError, network, flash
            b.note(ERROR, "software update failed: %s" % e)
        await asyncio.sleep_ms(fw[3] * 1000)
    status(failed)
    b.st["fw"] = None
    b.save()
