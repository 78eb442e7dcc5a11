# The one freeze manifest for every image: the firmware and its libraries compiled into
# the MicroPython image (bytecode, constants and interned names in flash, not in the
# heap). docs/hardware.md has the upstream commit and the build commands:
#
#   Pico W:   make -C ports/rp2 BOARD=RPI_PICO_W FROZEN_MANIFEST=<repo>/tools/manifest.py
#   ESP32:    make -C ports/esp32 BOARD=ESP32_GENERIC FROZEN_MANIFEST=<repo>/tools/manifest.py
#   32-bit unix VM (the measured configuration):
#             make -C ports/unix CROSS_COMPILE=i686-linux-gnu- ... FROZEN_MANIFEST=<same>
#
# Run by MicroPython's makemanifest.py with this repository's venv first on PATH (it
# finds microdot there). Frozen modules come after the flash on sys.path, so an update
# slot (docs/update.md) still takes precedence.
import importlib.util
import os
import sys

_REPO = os.path.dirname(os.getcwd())  # makemanifest runs a manifest from its own folder
sys.path.insert(0, _REPO)
from tools import frozen_sources  # noqa: E402


def _rp2():
    """Whether this is the rp2 port: only its modules/ has rp2.py (a manifest sees no
    variables but through paths). Its modules are frozen here, all but _boot.py."""
    try:
        freeze("$(PORT_DIR)/modules", ("rp2.py", "_boot_fat.py"))  # noqa: F821
    except Exception as e:
        if "Cannot stat" not in str(e):
            raise
        return False
    return True


if _rp2():
    # the port's boards/manifest.py without its _boot.py: ours mounts the file system
    # 128 KB short of the flash storage and leaves that for the flash journal
    module("_boot.py", base_path=_REPO + "/tools/frozen/rp2")  # noqa: F821
    include("$(MPY_DIR)/extmod/asyncio")  # noqa: F821
    for _name in ("onewire", "ds18x20", "dht", "neopixel"):
        require(_name)  # noqa: F821
else:
    try:
        include("$(PORT_DIR)/boards/manifest.py")  # noqa: F821 - esp32: asyncio, neopixel...
    except Exception as e:  # the unix port has no boards/: its standard variant, as the VM's
        if "No such file" not in str(e):
            raise
        include("$(PORT_DIR)/variants/standard/manifest.py")  # noqa: F821
require("ssl")  # noqa: F821 - the backend's wss:// (rp2's port manifest leaves it out)

package("firmware", base_path=_REPO)  # noqa: F821
_microdot = os.path.dirname(importlib.util.find_spec("microdot").origin)
package("microdot", files=list(frozen_sources.MICRODOT_FILES),  # noqa: F821
        base_path=os.path.dirname(_microdot))

# The hash of what was frozen, beside the image (makemanifest's -b: the build folder,
# which holds the binary; relative to the port's folder, where make runs): the bench and
# the tests compare it with the current sources (tools/frozen_sources.py). Written at
# each make, before the link.
if "-b" in sys.argv:
    _port = [v[len("PORT_DIR="):] for v in sys.argv if v.startswith("PORT_DIR=")]
    frozen_sources.record(os.path.join(*(_port[:1] + [sys.argv[sys.argv.index("-b") + 1]])))
