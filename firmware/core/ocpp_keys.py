"""The OCPP 1.6J configuration keys (GetConfiguration / ChangeConfiguration): the
table and the validation of new values. Loaded for those CALLs only; the writable keys'
defaults are also in core/ocpp.WRITABLE, which the backend keeps loaded.
"""
from micropython import const

from firmware.core.ocpp import ENERGY, WRITABLE

# One row per key: name, kind (i integer, b boolean, m measurand list, s text, r phase
# rotation list), minimum, maximum (list kinds: items), and "*" for a writable key
# (default in core/ocpp.WRITABLE) or the read-only value. One string costs far less
# heap than a tuple of tuples.
_TABLE = ("|AllowOfflineTxForUnknownId b 0 0 *|AuthorizationCacheEnabled b 0 0 false"
          "|AuthorizeRemoteTxRequests b 0 0 *|ChargeProfileMaxStackLevel i 0 0 8"
          "|ChargingScheduleAllowedChargingRateUnit s 0 0 Current,Power"
          "|ChargingScheduleMaxPeriods i 0 0 24|ClockAlignedDataInterval i 0 86400 *"
          "|ConnectionTimeOut i 10 3600 *|ConnectorPhaseRotation r 0 2 *"
          "|ConnectorPhaseRotationMaxLength i 0 0 2|ConnectorSwitch3to1PhaseSupported b 0 0 false"
          "|GetConfigurationMaxKeys i 0 0 50|HeartbeatInterval i 0 86400 *"
          "|LocalAuthListEnabled b 0 0 *|LocalAuthListMaxLength i 0 0 64"
          "|LocalAuthorizeOffline b 0 0 *|LocalPreAuthorize b 0 0 *"
          "|MaxChargingProfilesInstalled i 0 0 8|MeterValueSampleInterval i 0 86400 *"
          "|MeterValuesAlignedData m 0 6 *|MeterValuesAlignedDataMaxLength i 0 0 6"
          "|MeterValuesSampledData m 0 6 *|MeterValuesSampledDataMaxLength i 0 0 6"
          "|NumberOfConnectors i 0 0 1|ReserveConnectorZeroSupported b 0 0 false"
          "|ResetRetries i 0 10 *|SendLocalListMaxLength i 0 0 64"
          "|StopTransactionOnEVSideDisconnect b 0 0 *|StopTransactionOnInvalidId b 0 0 *"
          "|StopTxnAlignedData m 0 6 *|StopTxnAlignedDataMaxLength i 0 0 6"
          "|StopTxnSampledData m 0 6 *|StopTxnSampledDataMaxLength i 0 0 6"
          "|SupportedFeatureProfiles s 0 0 Core,FirmwareManagement,LocalAuthListManagement,"
          "Reservation,SmartCharging,RemoteTrigger|SupportedFeatureProfilesMaxLength i 0 0 6"
          "|TransactionMessageAttempts i 0 10 *|TransactionMessageRetryInterval i 0 3600 *"
          "|UnlockConnectorOnEVSideDisconnect b 0 0 *|WebSocketPingInterval i 0 3600 *|")
_KINDS = "ibmsr"
KI = const(0)
KB = const(1)
KM = const(2)
KR = const(4)
MEASURANDS = (ENERGY, "Power.Active.Import", "Current.Import", "Current.Offered",
              "Voltage", "Temperature")
_ROTATIONS = ("NotApplicable", "Unknown", "RST", "RTS", "SRT", "STR", "TRS", "TSR")


def _row(text):
    name, kind, lo, hi, value = text.split(" ")
    k = _KINDS.index(kind)
    rw = value == "*"
    if rw:
        value = WRITABLE[name]
    elif k == KI:
        value = int(value)
    elif k == KB:
        value = value == "true"
    return name, k, value, int(lo), int(hi), rw


def key_row(name):
    """(name, kind, default, minimum, maximum, writable), or None for an unknown key."""
    i = _TABLE.find("|" + name + " ")
    if i < 0 or " " in name or "|" in name:
        return None
    return _row(_TABLE[i + 1:_TABLE.find("|", i + 1)])


def rows():
    """Every key's row, in name order."""
    for text in _TABLE[1:-1].split("|"):
        yield _row(text)


def defaults():
    return {row[0]: row[2] for row in rows()}


def text(v):
    """A key's value as OCPP text."""
    return ("true" if v else "false") if isinstance(v, bool) else str(v)


def parse_key(row, value):
    """The value of a ChangeConfiguration for key `row`, or ValueError with the reason."""
    kind, lo, hi = row[1], row[3], row[4]
    if kind == KI:
        if not value.isdigit():
            raise ValueError("not a whole number")
        v = int(value)
        if not lo <= v <= hi:
            raise ValueError("out of range")
        return v
    if kind == KB:
        v = value.lower()
        if v != "true" and v != "false":
            raise ValueError("not true or false")
        return v == "true"
    items = [x.strip() for x in value.split(",")] if value.strip() else []
    if len(items) > hi:
        raise ValueError("too many items")
    for x in items:
        if kind == KM:
            if x not in MEASURANDS:
                raise ValueError("measurand not supported: " + x)
        else:
            n, _, r = x.partition(".")
            if n not in ("0", "1") or r not in _ROTATIONS:
                raise ValueError("bad phase rotation: " + x)
    return ",".join(items)
