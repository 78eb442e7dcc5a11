"""Wire format between the simulated world (CPython) and the virtual hardware in the VM.

Every message is one 8-byte record: little-endian u16 op, u16 id, i32 value. Read by
both runtimes, so it holds constants only.
"""
RECORD = 8
FMT = "<HHi"
NPINS = 64

# world -> VM
SET_IN = 1  # id = pin, value = level (digital) or raw 0..65535 (ADC)
SET_ALT = 2  # id = ADC pin, value = raw while its coupled PWM output is low
COUPLE = 3  # id = ADC pin, value = PWM pin that drives what the ADC sees
READY = 4  # initial inputs sent: the firmware may start
# VM -> world
OUT_PIN = 10  # id = pin, value = level
PWM_DUTY = 11  # id = pin, value = duty_u16
PWM_FREQ = 12  # id = pin, value = Hz
NEO = 13  # id = LED index, value = 0xRRGGBB
TELEMETRY = 14  # id = key (see below), value
RESET = 15  # value = reset cause about to take effect
HELLO = 16  # VM connected
IN_AT = 17  # id = pin, value = VM ticks_us (mod 2**30) when an input change landed
OUT_AT = 18  # id = pin, value = VM ticks_us (mod 2**30) when an output was written

# telemetry keys: what only the firmware knows, reported by the VM runner for the panel
T_STATUS = 0
T_PHASE = 1
T_FAULT = 2
T_OFFERED_DA = 3
T_RETRIES = 4
T_LATCHED = 5
T_CURRENT_DA = 6
T_TEMP_DC = 7
T_MAINS_DV = 8
T_LIMIT_DA = 9
T_LIMIT_SOURCE = 10
T_PILOT = 11
T_HIGH_MV = 12
T_LOW_MV = 13
T_AUTHORIZED = 14
T_DIP = 15
T_SAFE_MODE = 16
T_TICK_US_MAX = 17
T_LAST_FAULT = 18
T_STALL_US = 19  # longest gap between two runs of the bench's probe task
T_KEYS = 20

# exit code of the VM process when the firmware asks for a reset (the launcher restarts it)
RESET_EXIT = 42
PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
SOFT_RESET = 5
