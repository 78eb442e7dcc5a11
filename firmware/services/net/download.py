"""A software update bundle over HTTP or HTTPS, streamed into an Updater (platform/
update.py) through the same begin/write/finish as an upload: the web's online update
(net/release.py), the backend's UpdateFirmware and diag.update(url).

    version = await install_from_url(app.updater(), "https://host/wallbox-1.2.0.wbx")

Names are resolved with the non-blocking DNS query of net/websocket.py; HTTPS does not
check the server's certificate (the boards hold no CA store): the bundle's hashes and
signature are what is trusted. Imported on use.
"""
import asyncio

from firmware.services.net.websocket import close_stream, open_stream, read_head
from firmware.services.platform.update import UpdateError


async def install_from_url(updater, url, force=False, timeout_s=30, size=None):
    """Download a bundle over HTTP or HTTPS and install it; returns the version.
    The bytes go through begin/write/finish exactly as an upload's do. `size`: the
    length a release record announced (a different Content-Length is refused)."""
    s, length = await http_get(url, timeout_s * 1000)
    try:
        if size is not None and length != size:
            raise UpdateError("download is %d bytes, the release says %d" % (length, size))
        await updater.begin(length, force)
        buf = bytearray(1024)
        while updater.progress < length:
            n = await asyncio.wait_for_ms(s.readinto(buf), timeout_s * 1000)
            if not n:
                break  # closed early: finish() says "bundle truncated"
            rest = updater.write_some(memoryview(buf)[:n])
            while rest is not None:  # a file of the bundle done: the rest in a next step
                await asyncio.sleep_ms(0)
                rest = updater.write_some(rest)
        return await updater.finish()
    except (asyncio.TimeoutError, OSError) as e:
        why = "download stalled at %d of %d bytes" % (updater.progress, length) \
            if isinstance(e, asyncio.TimeoutError) else \
            "connection lost at %d of %d bytes (%s)" % (updater.progress, length, e)
        if updater.busy:
            updater.abort(why)
        raise UpdateError(why)
    finally:
        await close_stream(s)


async def http_get(url, timeout_ms=30000):
    """GET `url` (http:// or https://, up to three redirects): (stream, Content-Length)
    with the stream at the body. The name is resolved without blocking (the backend's
    DNS query); HTTPS does not check the certificate: the bundle's signature is what is
    trusted. UpdateError with the reason."""
    for _ in range(4):  # the URL and up to three redirects
        proto, _, hostport, path = (url + "/").split("/", 3)
        if proto not in ("http:", "https:"):
            raise UpdateError("unsupported URL " + url)
        host, _, port = hostport.partition(":")
        port = int(port) if port.isdigit() else (443 if proto == "https:" else 80)
        try:
            s = await open_stream(host, port, proto == "https:", timeout_ms=timeout_ms)
        except (OSError, asyncio.TimeoutError) as e:
            raise UpdateError("cannot reach %s: %s" % (host, e))
        try:
            s.write(("GET /%s HTTP/1.0\r\nHost: %s\r\n\r\n" % (path[:-1], host)).encode())
            await s.drain()
            code, head = await asyncio.wait_for_ms(read_head(s), timeout_ms)
        except (OSError, asyncio.TimeoutError) as e:
            await close_stream(s)
            raise UpdateError("cannot reach %s: %s" % (host, str(e) or "no answer"))
        if code in (301, 302, 303, 307, 308) and head.get("location"):
            await close_stream(s)
            url = absolute(url, head["location"])
            continue
        length = head.get("content-length", "")
        if code != 200 or not length.isdigit():
            await close_stream(s)
            raise UpdateError("download failed: HTTP %d" % code if code != 200 else
                              "download failed: no Content-Length")
        return s, int(length)
    raise UpdateError("too many redirects")


def absolute(base, ref):
    """`ref` (a full URL, a path from the root, or a name) seen from the page `base`."""
    if "://" in ref:
        return ref
    scheme, _, rest = base.partition("://")
    host = rest.split("/", 1)[0]
    if ref.startswith("/"):
        return "%s://%s%s" % (scheme, host, ref)
    return base.rsplit("/", 1)[0] + "/" + ref if "/" in rest else \
        "%s://%s/%s" % (scheme, host, ref)
