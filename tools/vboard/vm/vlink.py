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
KEEPALIVE = 5  # id = keep-alive pin, value = drop-out in us: the retriggerable monostable
#                that enables the relay coil (docs/hardware.md); the VM reports its output
#                as that pin's level (OUT_PIN, OUT_AT), the world ANDs it with the coil pin
STALL = 6  # value = ms: the interpreter blocks in one call into C that long (time.sleep)
COIL = 7  # id = the relay coil pin: the VM sends the contacts' state with each FLASH record
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
STALL_AT = 19  # id = 1 stall begins, 0 ends; value = VM ticks_us (mod 2**30)
# RFID (tools/vboard/vm/rc522_sim.py): the card field world -> VM, the firmware's view back
CARD_BYTE = 20  # id = slot * 16 + index, value = that byte of the UID staged for the slot
CARD_SET = 21  # id = slot (0, 1), value = UID length (0 = empty) | serial << 8: card enters
RFID_NOISE = 22  # value: NOISE_*
RFID_READER = 23  # value: READER_*
RFID_BROWNOUT = 24  # the reader chip resets itself (registers back to reset values)
RFID_TELE = 25  # VM -> world: id = key (R_*), value
# VM -> world: a flash operation (tools/vboard/vm/vflash.py); id = FLASH_*, value = 1 if
# the relay's contacts were closed at that moment as the VM saw them (the coil pin high
# and the keep-alive monostable holding), else 0: the world counts it so, exactly, not
# by its own view of the pins, which other records may have moved on meanwhile
FLASH = 26
FLASH_FILE = 0  # a file system write: a file opened to write, renamed, removed, a directory
FLASH_ERASE = 1  # a block of the raw journal partition erased
FLASH_PROGRAM = 2  # a page of it programmed
FLASH_OVERWRITE = 3  # a page programmed over bits not erased (a firmware defect)
NOISE_NONE = 0  # clean answers
NOISE_CRC = 1  # bad BCC/CRC
NOISE_PARTIAL = 2  # partial frames
READER_OK = 0  # working
READER_DEAD = 1  # MISO reads 0
READER_GARBAGE = 2  # garbage on MISO
R_READER = 0  # 0 none fitted, 1 working, 2 failed
R_CARDS = 1  # cards in the whitelist
R_BUSY_US = 2  # longest stretch one reader poll held the event loop
R_ENROLLING = 3  # waiting for the first card to become the master card
R_STEP = 4  # card programming step: 0 none, 1 waiting for the new card, 2 for the master
R_KEYS = 5

# world -> VM, simulated networking (tools/vboard/vm/network.py)
NET_UP = 40  # id = index in VBOARD_NETWORKS ("ssid:password:rssi,..."), value = 1 up, 0 down

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
