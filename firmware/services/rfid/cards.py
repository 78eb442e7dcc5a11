"""The whitelist file (`cards.json`): list it, change it, delete all cards.

Imported on first use (a web page, the backend, card programming, delete-all) through
the methods of services/rfid/service.Rfid, so it is not resident while nobody edits the list;
the running authorization needs only the index in core/auth.Auth.
"""
from firmware.core import auth
from firmware.services.platform.config import load_json, save_json
from firmware.services.platform.log import ERROR, INFO


def entries(rfid):
    """The whitelist object {"version", "master", "cards": {uid: label}} from flash;
    ValueError if the file is damaged."""
    doc = load_json(rfid.path, None, rfid.log)
    return {"version": 0, "master": "", "cards": {}} if doc is None else auth.check_doc(doc)


def edit(rfid, uid, label, how, master=False):
    """Add (how 0), label (1) or remove (2) a card; None, or why nothing was changed."""
    try:
        uid = auth.check_uid(uid)
        auth.check_label(label)
        doc = entries(rfid)
        cards = doc["cards"]
        if (how == 0) == (uid in cards):
            raise ValueError("card already in the whitelist" if how == 0 else "no such card")
        if how == 2:
            del cards[uid]
            if doc["master"] == uid:
                doc["master"] = ""
        else:
            if how == 0 and len(cards) >= auth.CAPACITY:
                raise ValueError("whitelist full")
            cards[uid] = label
            if master:
                doc["master"] = uid
        doc["version"] += 1
        save_json(rfid.path, doc)
    except (ValueError, OSError, MemoryError) as e:
        return str(e) or type(e).__name__
    rfid.auth.use(doc)
    rfid.log.add(INFO, "whitelist: %s %s" % (uid, ("added", "labelled", "removed")[how]))
    return None


def clear(rfid):
    """Delete all cards; the next restart opens the master card window."""
    doc = {"version": rfid.auth.version + 1, "master": "", "cards": {}}
    try:
        save_json(rfid.path, doc)
        save_json(rfid.path, doc)  # the .bak copy too: deleted cards never come back
    except (OSError, MemoryError) as e:
        rfid.log.add(ERROR, "cards not deleted: %s" % e)
        return str(e) or "flash error"
    rfid.auth.use(doc)
    rfid.log.add(INFO, "all cards deleted")
    return None
