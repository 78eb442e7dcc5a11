"""The current arbiter: the offered current is the minimum of every claim, and it can
say which claim set it (so the status page can explain why the car gets 10 A).

Claims are in 0.1 A; NO_LIMIT means the source does not restrict. Slots are fixed and
preallocated so resolving in the control tick allocates nothing.
"""
from micropython import const

NO_LIMIT = const(10000)

INSTALLATION = const(0)  # DIP switches: what the installation's wiring allows
CABLE = const(1)  # charging cable rating
CONFIGURED = const(2)  # the owner's configured maximum
TEMPERATURE = const(3)  # thermal derating
LOAD = const(4)  # domestic connection monitoring (house fuse)
METER_FALLBACK = const(5)  # 10 A while the domestic meter is lost
SOLAR = const(6)  # solar surplus mode
BACKEND = const(7)  # backend schedule / OCPP smart charging
APP = const(8)  # local app / JSON API override
SLOTS = const(9)
NAMES = ("installation", "cable", "configured", "temperature", "load management",
         "meter fallback", "solar surplus", "backend", "app")
# Limits that mean "safety-related power reduction" (status Degraded while they bind).
_DEGRADING = const((TEMPERATURE, METER_FALLBACK))

# Installation maximum per DIP-switch code; code 0 means "not set": commissioning mode.
DIP_DA = (0, 60, 80, 100, 130, 160, 200, 250, 320, 400, 480, 500, 630, 700, 750, 800)


class Arbiter:
    def __init__(self):
        self.claims = [NO_LIMIT] * SLOTS
        self.limit = 0
        self.source = INSTALLATION
        self.resolve()

    def set(self, slot, da):
        self.claims[slot] = NO_LIMIT if da is None else da

    def clear(self, slot):
        self.claims[slot] = NO_LIMIT

    def resolve(self):
        best = NO_LIMIT
        src = INSTALLATION
        claims = self.claims
        for i in range(SLOTS):
            if claims[i] < best:
                best = claims[i]
                src = i
        self.limit = best if best < NO_LIMIT else 0  # no installation limit: offer nothing
        self.source = src
        return self.limit

    def degrading(self):
        return self.source in _DEGRADING
