# Freeze the firmware into a MicroPython 1.29 image (no .mpy files on the flash, code in
# ROM: less heap). From a MicroPython source tree, with this repository's venv active:
#
#   make -C ports/esp32 BOARD=ESP32_GENERIC FROZEN_MANIFEST=/path/to/repo/tools/manifest.py
#   make -C ports/rp2 BOARD=RPI_PICO_W FROZEN_MANIFEST=/path/to/repo/tools/manifest.py
#
# then flash the image and copy only boot.py and main.py (and prov.json via
# tools/provision.py): `mpremote connect PORT cp boot.py main.py :`. Frozen modules come
# after the flash on sys.path, so an update slot (docs/update.md) still takes precedence.
import importlib.util
import os

include("$(PORT_DIR)/boards/manifest.py")  # noqa: F821 - the port's own frozen modules

_REPO = os.path.dirname(os.getcwd())  # MicroPython runs a manifest from its own folder
package("firmware", base_path=_REPO)  # noqa: F821
_microdot = os.path.dirname(importlib.util.find_spec("microdot").origin)
package("microdot", files=["__init__.py", "microdot.py", "helpers.py", "multipart.py",  # noqa: F821
                           "websocket.py", "sse.py", "cors.py"],
        base_path=os.path.dirname(_microdot))
