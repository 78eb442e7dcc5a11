"""The virtual board: the pins the simulated world (tools/vboard) drives in the VM.

Every optional part is fitted, so every firmware path can run without hardware. The
analog scalings are those of the reference front-end described in docs/hardware.md.
"""
NAME = "virtual"
TIMER_ID = -1
TICK_MS = 5
WDT_TIMEOUT_MS = 8000

# Control pilot: PWM drives the +-12 V generator; ADC reads it through a divider that
# maps -13.2..+13.2 V to 0..3.3 V (1.65 V = 0 V).
CP_PWM = 1
CP_ADC = 2
CP_ZERO_RAW = 32768
CP_MV_NUM = 26400
CP_MV_DEN = 65535

RELAY = 3
RELAY_SENSE = 4  # optocoupler on the relay's output side, active low
RELAY_SENSE_ACTIVE_LOW = True
RELAY_KEEPALIVE = 29  # the coil driver holds only while this toggles (docs/hardware.md)
KEEPALIVE_MS = 25  # the keep-alive circuit's drop-out time (and the hard guard's limit)
# The flash journal's raw partition (services/platform/flashgate.py): a file-backed one of 64
# blocks of 4 KB in the board's state folder (tools/vboard/vm/vflash.py)
JOURNAL = ("vflash", "journal.img", 64)
CP_COMPARATOR = 30  # high while the pilot's high plateau is above the C/B threshold

RCD_TRIP = 5  # 6 mA DC detector trip output, active high
RCD_TEST = 6
PE_OK = 7  # protective-earth monitor, active low = earth present
PE_OK_ACTIVE_LOW = True

# Slow analog inputs: NTC (beta 3950, 10 k at 25 degC, 10 k pull-up), mains voltage
# (0..3.3 V = 0..330 V rms), phase currents (0..3.3 V = 0..100 A rms).
NTC_ADC = 8
NTC_BETA = 3950
NTC_R25 = 10000
NTC_PULLUP = 10000
MAINS_ADC = 9
MAINS_DV_NUM = 3300
MAINS_DV_DEN = 65535
CT_ADC = (10, 11, 12)
CT_DA_NUM = 1000
CT_DA_DEN = 65535

LED_PIN = 13  # WS2812 chain: S1..S4, online, mode, RFID, frame, touch
LED_COUNT = 9
BUZZER = 14
SERVICE_BUTTON = 15  # active low
TOUCH_BUTTON = 16  # active low (a touch-sensor IC's output)
TOUCH_THRESHOLD = None  # None: digital input, else an ESP32 TouchPad threshold
DIP_PINS = (17, 18, 19, 20)  # active low, least significant first
DIP_LADDER_ADC = None

# RC522 RFID reader on SPI, RS485 transceiver on a UART (used by later services)
SPI_ID = 1
SPI_SCK = 21
SPI_MOSI = 22
SPI_MISO = 23
RC522_CS = 24
RC522_RST = 25
SD_CS = 31  # SD card slot on the same SPI bus (tools/vboard/vm/sdcard_sim.py)
UART_ID = 1
UART_TX = 26
UART_RX = 27
RS485_DE = 28

# The web interface listens on the host's loopback only. The VM entry sets WEB_PORT from
# the world: its port, or -1 for none (0 would mean the setting web.port, as on boards).
WEB_HOST = "127.0.0.1"
WEB_PORT = 0

# LAN: None (no Ethernet port) unless the VM entry sets {} (VBOARD_LAN). DHCP_PORTS:
# (server port, client port, answers to, bind to) of the LAN's DHCP server, set by the
# VM entry from VBOARD_DHCP_PORTS; None means 67, 68, broadcast, all interfaces.
LAN = None
DHCP_PORTS = None
