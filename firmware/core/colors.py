"""Colour ids shared by the LED logic and the LED driver (the driver maps them to RGB)."""
from micropython import const

OFF = const(0)
RED = const(1)
GREEN = const(2)
BLUE = const(3)
WHITE = const(4)
ORANGE = const(5)
NAMES = ("off", "red", "green", "blue", "white", "orange")
