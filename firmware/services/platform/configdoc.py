"""The configuration as a document (export and import) and the one way settings are
applied to the running charger: the web's settings forms, its Export/Import and the SD
card's CFG folder (services/storage/slot.py) all go through here. Imported on use."""
import asyncio

from firmware.core import limits, settings
from firmware.services.platform.config import save_json
from firmware.services.platform.log import INFO

FORMAT = "wallbox-config"
SECRET = ("net.hotspot_password", "net.wifi_password", "proxy.password", "backend.key",
          "mqtt.password")
# Settings that the running services pick up only at the next start
AT_RESTART = ("net.hotspot_ssid", "net.hotspot_password", "net.channel", "net.hostname",
              "net.lan_dhcp", "backend.", "proxy.", "web.port", "time.ntp")


def export_doc(app, version, secrets=False):
    v = dict(app.config.values)
    if not secrets:
        for k in SECRET:
            v.pop(k, None)
    return {"format": FORMAT, "serial": app.config.prov.get("serial"), "version": version,
            "settings": v, "cards": app.rfid.entries()}


async def apply(app, changes, who):
    """Validate and save `changes` (atomically, all or nothing), then make the running
    services follow: a step each. Returns ({key: reason}, restart needed)."""
    errors = {}
    v = changes.get("charging.max_current_a") if isinstance(changes, dict) else None
    dip = limits.DIP_DA[app.dip]
    if isinstance(v, int) and not isinstance(v, bool) and app.dip and v * 10 > dip:
        errors["charging.max_current_a"] = \
            "must not exceed the installation maximum of %d A (DIP switches)" % (dip // 10)
    clean, bad = settings.validate(changes)
    errors.update(bad)
    if errors:
        return errors, False
    await asyncio.sleep_ms(0)  # checked in one step, saved in the next (all of them: ~10 ms)
    try:
        app.config.save(clean)
    except OSError as e:
        return {"": "not saved: flash error %s" % e}, False
    app.log.add(INFO, who + ": settings changed: " + ", ".join(changes))
    return {}, any(k.startswith(AT_RESTART) for k in changes)


async def import_doc(app, doc, who):
    """Check and apply an exported document: all or nothing. Returns (restart needed,
    ignored keys); ValueError(reason, {key: reason}) if anything is refused. Parsing,
    checking the cards, saving the settings and saving the cards are a step each:
    together they would hold the event loop too long."""
    from firmware.core import auth
    s = doc.get("settings") if isinstance(doc, dict) else None
    if not isinstance(s, dict) or doc.get("format") != FORMAT:
        raise ValueError("not a configuration file of this charger", {})
    known = {k: s[k] for k in s if k in settings.SCHEMA}
    ignored = [k for k in s if k not in settings.SCHEMA]
    cards = doc.get("cards")
    await asyncio.sleep_ms(0)
    if cards is not None:
        try:
            auth.check_doc(cards)
        except ValueError as e:
            raise ValueError("card list: %s" % e, {"cards": str(e)})
        await asyncio.sleep_ms(0)
    errors, restart = (await apply(app, known, who)) if known else ({}, False)
    if errors:
        raise ValueError("nothing imported: %d setting(s) refused" % len(errors), errors)
    if cards is not None:
        await asyncio.sleep_ms(0)
        rf = app.rfid
        cards["version"] = rf.auth.version + 1
        save_json(rf.path, cards)
        rf.auth.use(cards)
    app.log.add(INFO, who + ": configuration imported")
    return restart, ignored
