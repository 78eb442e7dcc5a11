"""The record format of every file on flash (core/record.py), shared by boot.py, the
config service and tools/provision.py."""
import json

import pytest

from firmware.core import record


def _text(obj):
    body = json.dumps(obj)
    return record.header(body) + body + record.TAIL


def test_a_record_reads_back_and_is_still_json():
    obj = {"active": "slot1", "boots": 2, "list": [1, "two", None]}
    text = _text(obj)
    assert record.decode(text) == obj
    assert json.loads(text)["data"] == obj


def test_plain_json_reads_as_it_is():
    assert record.decode('{"serial": "WB1"}') == {"serial": "WB1"}


@pytest.mark.parametrize("damage", ["flip", "cut", "head"])
def test_a_damaged_record_is_refused(damage):
    text = _text({"serial": "WB0000000001", "board": "virtual"})
    if damage == "flip":
        text = text.replace("WB0000000001", "WB0000000002")
    elif damage == "cut":
        text = text[:30]
    else:
        text = text[:9] + "g" + text[10:]
    with pytest.raises(ValueError):
        record.decode(text)
