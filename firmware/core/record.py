"""The record every file on flash is saved as: `{"crc":"<CRC-32 of the body, 8 hex
digits>","data":<body>}`, still valid JSON. One definition for the writers and readers
(platform/config.save_json and load_json, boot.py before any slot is chosen,
tools/provision.py on the host); a plain JSON file (older firmware, written by hand)
reads as it is. Runs on CPython too."""
import json
from binascii import crc32

HEAD = '{"crc":"'
TAIL = "}\n"
_DATA = 25  # len('{"crc":"00000000","data":')


def header(body):
    """What comes before `body` (the JSON text of the data); TAIL comes after it.
    Written in three pieces, a large record is never copied into one more string."""
    return '%s%08x","data":' % (HEAD, crc32(body.encode()))


def decode(text):
    """The object in a record's text (or in plain JSON); ValueError if it is corrupt."""
    if not text.startswith(HEAD):
        return json.loads(text)
    end = text.rfind("}")
    body = text[_DATA:end]
    if end < _DATA or text[16:_DATA] != '","data":' or int(text[8:16], 16) != crc32(
            body.encode()):
        raise ValueError("checksum mismatch")
    return json.loads(body)
