"""OCPP 1.6J as pure logic, the part the backend service keeps loaded: time stamps, the
connector status from the charging core, the limit that charging profiles set at a
time, and the writable configuration keys' defaults. What only answering the central
system's CALLs needs (payload checks, the key table, profile parsing, the composite
schedule) is in core/ocpp_calls.py, loaded for a CALL and dropped after it.

Time is Unix seconds (int), passed in. Currents are in 0.1 A like the rest of the core.
"""
from micropython import const

from firmware.core import charger as ch
from firmware.core import civil
from firmware.core import faults
from firmware.core.ticks import ticks_diff


class CallError(Exception):
    """An OCPP-J CALLERROR: args = (errorCode, description)."""


# The writable configuration keys and their defaults (read-only ones: ocpp_calls.KEYS)
ENERGY = "Energy.Active.Import.Register"
WRITABLE = {
    "AllowOfflineTxForUnknownId": False, "AuthorizeRemoteTxRequests": False,
    "ClockAlignedDataInterval": 0, "ConnectionTimeOut": 60,
    "ConnectorPhaseRotation": "0.NotApplicable,1.RST", "HeartbeatInterval": 300,
    "LocalAuthListEnabled": True, "LocalAuthorizeOffline": True, "LocalPreAuthorize": False,
    "MeterValueSampleInterval": 60, "MeterValuesAlignedData": ENERGY,
    "MeterValuesSampledData": ENERGY, "ResetRetries": 3,
    "StopTransactionOnEVSideDisconnect": True, "StopTransactionOnInvalidId": True,
    "StopTxnAlignedData": "", "StopTxnSampledData": "", "TransactionMessageAttempts": 3,
    "TransactionMessageRetryInterval": 60, "UnlockConnectorOnEVSideDisconnect": True,
    "WebSocketPingInterval": 60,
}


# ------------------------------------------------------------------ energy register
class Register:
    """The energy register (Wh, never goes back): the power integrated over time, each
    interval with the power measured at its start. So the interval in which the relay
    closes adds nothing (a transaction starting then begins at the register's value, with
    no energy from before it), and the one in which it opens adds what flowed until then."""

    def __init__(self, wh, now):
        self.wh = wh
        self._mj = 0
        self._w = 0
        self._at = now

    def update(self, now, watts):
        self._mj += self._w * ticks_diff(now, self._at)
        self.wh += self._mj // 3600000
        self._mj %= 3600000
        self._w = watts
        self._at = now


# ----------------------------------------------------------------------- framing
def too_deep(raw, limit):
    """True if the JSON text `raw` (bytes) nests arrays and objects deeper than `limit`.
    A linear scan without recursion, run before json.loads: parsing (and printing) a
    deeply nested frame could exhaust the stack or the heap. OCPP 1.6 nests 6 deep."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    depth = 0
    text = escaped = False
    for b in raw:
        if text:
            if escaped:
                escaped = False
            elif b == 92:  # backslash
                escaped = True
            elif b == 34:  # quote
                text = False
        elif b == 34:
            text = True
        elif b == 91 or b == 123:  # [ {
            depth += 1
            if depth > limit:
                return True
        elif b == 93 or b == 125:  # ] }
            depth -= 1
    return False


# ---------------------------------------------------------------------------- time
def to_unix(s):
    """Unix seconds of an RFC 3339 time stamp ("2026-11-27T10:00:00.5+01:00"), or None."""
    try:
        if len(s) < 19 or s[4] != "-" or s[7] != "-" or s[10] not in "Tt" or s[13] != ":":
            return None
        t = civil.days(int(s[:4]), int(s[5:7]), int(s[8:10])) * 86400 + \
            int(s[11:13]) * 3600 + int(s[14:16]) * 60 + int(s[17:19])
        i = 19
        if s[i:i + 1] == ".":
            i += 1
            while i < len(s) and s[i].isdigit():
                i += 1
        z = s[i:]
        if z in ("Z", "z", ""):
            return t
        if len(z) == 6 and z[0] in "+-" and z[3] == ":":
            off = int(z[1:3]) * 3600 + int(z[4:6]) * 60
            return t - off if z[0] == "+" else t + off
    except (ValueError, IndexError):
        pass
    return None


def iso(t):
    """RFC 3339 UTC time stamp of Unix seconds."""
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % civil.from_unix(t)[:6]


# ------------------------------------------------------------------ connector status
AVAILABLE = "Available"
_ERRORS = {faults.OVER_TEMPERATURE: "HighTemperature",
           faults.IMPERMISSIBLE_LOAD: "EVCommunicationError",
           faults.OVERCURRENT: "OverCurrentFailure",
           faults.NO_OUTPUT_VOLTAGE: "PowerSwitchFailure",
           faults.RESIDUAL_CURRENT: "GroundFailure",
           faults.WELDED_RELAY: "PowerSwitchFailure",
           faults.PROTECTIVE_EARTH: "GroundFailure"}


def connector_status(c, tx, finishing, inoperative, reserved):
    """(status, errorCode, vendorErrorCode) of the connector from the charging core `c`:
    `tx` a transaction runs, `finishing` one ended with the vehicle still plugged in."""
    ph = c.phase
    code = c.fault
    if (ph == ch.FAULT or ph == ch.PERMANENT) and code != faults.UNPLUGGED:
        if code == faults.MAINS_VOLTAGE:
            err = "OverVoltage" if c.mains_dv > c.cfg.mains_max_dv else "UnderVoltage"
        else:
            err = _ERRORS.get(code, "OtherError")
        return "Faulted", err, str(code)
    plugged = c.pilot.vehicle
    if inoperative or c.service_mode or c.updating or c.showroom:
        st = "Unavailable"
    elif not plugged or ph == ch.IDLE or ph == ch.BOOT or ph == ch.FAULT:
        st = "Reserved" if reserved else AVAILABLE
    elif not tx:
        st = "Finishing" if finishing else "Preparing"
    elif ph == ch.CHARGING:
        st = "Charging"
    elif (ph == ch.READY or ph == ch.WAKEUP) and c.offered_da:
        st = "SuspendedEV"  # offered, the vehicle does not take it
    else:
        st = "SuspendedEVSE"
    return st, "NoError", ""


# ------------------------------------------------------------------- smart charging
# A stored profile is a list: [id, purpose, stack, kind, recurrency, valid_from, valid_to,
# start, duration, unit_w, periods [[start s, limit, phases], ...], transaction id]
CP_MAX = const(0)
TX_DEFAULT = const(1)
TX = const(2)
CYCLE = (0, 86400, 604800)  # no recurrence, Daily, Weekly


def _da(limit, unit_w, phases, volts):
    return int(limit * 10) if not unit_w else int(limit * 10 / (volts * phases))


def _at(p, t, tx_start, phases, volts):
    """The profile's limit (0.1 A) at time t, or None where its schedule does not apply."""
    if (p[5] is not None and t < p[5]) or (p[6] is not None and t >= p[6]):
        return None
    start = tx_start if p[3] == 2 else p[7]
    if start is None:
        return None
    cycle = CYCLE[p[4]]
    if cycle:
        start += (t - start) // cycle * cycle  # the latest recurrence that started
    off = t - start
    if off < 0 or (p[8] is not None and off >= p[8]):
        return None
    best = None
    for q in p[10]:
        if q[0] <= off:
            best = q
    return None if best is None else _da(best[1], p[9], best[2] or phases, volts)


def limit_at(profiles, t, tx_id, tx_start, phases=3, volts=230):
    """The limit (0.1 A) the profiles set at time t: min(ChargePointMax, TxProfile or
    else TxDefault), each the valid profile of the highest stack level that applies;
    None if no profile applies. TxProfiles count only during their transaction."""
    best = [None, None, None]
    level = [-1, -1, -1]
    for p in profiles:
        pur = p[1]
        if pur == TX and (tx_id is None or (p[11] is not None and p[11] != tx_id)):
            continue
        if p[2] > level[pur]:
            lim = _at(p, t, tx_start, phases, volts)
            if lim is not None:
                best[pur] = lim
                level[pur] = p[2]
    tx = best[TX] if best[TX] is not None else best[TX_DEFAULT]
    if tx is None or (best[CP_MAX] is not None and best[CP_MAX] < tx):
        return best[CP_MAX]
    return tx
