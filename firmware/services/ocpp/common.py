"""What the backend, its CALL answers (calls.py) and its management CALLs (mgmt.py)
share, below all three so that none imports another in a circle: the vendor id of this
project's DataTransfer messages, the local list's file, the running software version."""
import json

from firmware.services.platform.config import load_json

VENDOR_ID = "org.openwallbox"  # DataTransfer vendorId of this project's extensions
LIST = "ocpplist.json"


def version():
    """The running software version (the update service's manifest), or None."""
    try:
        with open((load_json("update.json", {}).get("active") or ".") + "/manifest.json") as f:
            return str(json.load(f).get("version"))[:50]
    except (OSError, ValueError):
        return None
