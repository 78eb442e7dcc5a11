"""Pin maps per board, as data. `load()` picks the map for the running port."""
import sys

_BY_PLATFORM = {"esp32": "esp32_devkit", "rp2": "pico_w", "linux": "virtual"}


def load(name=None):
    """The board module `name`, or the default one for this platform."""
    if name is None:
        name = _BY_PLATFORM.get(sys.platform, "virtual")
    return __import__("firmware.boards." + name, None, None, ("NAME",))
