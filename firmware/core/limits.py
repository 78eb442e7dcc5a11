"""The current arbiter: the offered current is the minimum of every claim, and it can
say which claim set it (so the status page can explain why the car gets 10 A).

One precedence beyond the minimum (docs/decisions.md): the local plan (PLAN, the
departure planner) yields to the backend's schedule while the backend is online and
has one (`backend_schedule`); every other claim, safety and load limits included,
always counts.

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
PLAN = const(9)  # the local departure plan (intelligent charging without a backend)
CAPACITY = const(10)  # capacity tariff: the grid import's 15-minute average
SESSION = const(11)  # the per-session energy and time limits reached
SLOTS = const(12)
NAMES = ("installation", "cable", "configured", "temperature", "load management",
         "meter fallback", "solar surplus", "backend", "app", "plan", "capacity tariff",
         "session limit")
# Limits that mean "safety-related power reduction" (status Degraded while they bind).
_DEGRADING = const((TEMPERATURE, METER_FALLBACK))

# Installation maximum per DIP-switch code; code 0 means "not set": commissioning mode.
DIP_DA = (0, 60, 80, 100, 130, 160, 200, 250, 320, 400, 480, 500, 630, 700, 750, 800)


class Arbiter:
    def __init__(self):
        self.claims = [NO_LIMIT] * SLOTS
        self.backend_schedule = False  # the backend is online with a schedule: PLAN yields
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
            if claims[i] < best and not (i == PLAN and self.backend_schedule):
                best = claims[i]
                src = i
        self.limit = best if best < NO_LIMIT else 0  # no installation limit: offer nothing
        self.source = src
        return self.limit

    def without(self, slot):
        """The limit every claim but `slot` sets (0.1 A; NO_LIMIT: none): what the plan
        may use. Not for the control tick."""
        best = NO_LIMIT
        for i in range(SLOTS):
            if i != slot and self.claims[i] < best:
                best = self.claims[i]
        return best

    def degrading(self):
        return self.source in _DEGRADING
