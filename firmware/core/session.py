"""A charging session, from plug-in to unplug: the current and power drawn, the energy
(integrated from the power), and the card that authorized it.

One tracker serves the data log's session records and the status page, so both report
the same energy. Currents are in 0.1 A, the mains voltage in 0.1 V, time in ms.
"""
from micropython import const

_MJ_PER_WH = const(3600000)  # W x ms = mJ
_NOMINAL_DV = const(2300)  # no mains sense: 230 V

NOTHING = const(0)
STARTED = const(1)
ENDED = const(2)


def phase_da(measured, relay, current_da, phases):
    """[L1, L2, L3] drawn: the current transformers' readings if the board has them
    (`measured`, -1 = none), else the vehicle's current on the configured phases."""
    if max(measured) >= 0:
        return [max(x, 0) for x in measured]
    d = max(current_da, 0) if relay else 0
    return [d if i < phases else 0 for i in range(3)]


def power_w(currents, mains_dv, relay):
    if not relay:
        return 0
    v = mains_dv if mains_dv > 0 else _NOMINAL_DV
    return v * (currents[0] + currents[1] + currents[2]) // 100


class Session:
    def __init__(self):
        self.plugged = False
        self.count = 0  # sessions started since boot: a new one restarts the status chart
        self.wh = 0  # energy of this session (the last one's after the unplug)
        self.card = ""  # UID of the card that authorized it, "" = none
        self._mj = 0
        self._w = 0  # the power at the last sample

    def update(self, plugged, watts, dt_ms, holder):
        """One sample: the vehicle connected?, the power now, the time since the last
        sample, and who holds the authorization (a UID, "" or None: no card).
        Returns STARTED, ENDED or NOTHING."""
        if self.plugged:  # the time since the last sample belongs to this session
            # the mean of both ends: the relay switches between samples, halves are the
            # least wrong (and a ramp up and a ramp down add up to whole samples)
            self._mj += (self._w + watts) * dt_ms // 2
            self._w = watts
            self.wh += self._mj // _MJ_PER_WH
            self._mj %= _MJ_PER_WH
            if holder and not self.card:
                self.card = holder
            if not plugged:
                self.plugged = False
                return ENDED
            return NOTHING
        if plugged:
            self.plugged = True
            self.count += 1
            self.wh = self._mj = self._w = 0
            self.card = ""
            return STARTED
        return NOTHING
