"""What the web server and its less frequent requests (admin.py) share: the account
file's name, the JSON body of a request, an error answer."""
import json

from microdot.microdot import Response

ACCOUNT = "web.json"  # the login, its sessions and the API tokens' hashes


def _err(code, msg, **extra):
    extra["error"] = msg
    return Response(extra, code)


def _body(req):
    """The request's JSON object; ValueError(400, reason) if it is none."""
    try:
        obj = json.loads(req.body or b"{}")
    except ValueError:
        obj = None
    if not isinstance(obj, dict):
        raise ValueError(400, "the body must be a JSON object")
    return obj
