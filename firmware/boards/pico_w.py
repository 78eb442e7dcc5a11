"""Raspberry Pi Pico W (RP2040). See docs/hardware.md for the front-end circuits.

The RP2040 has three usable ADC inputs (GPIO 26..28): pilot, temperature and mains
voltage. Phase currents are not measured on this board; they come from a meter when one
is configured, otherwise the over-current check (4003) is off and the docs say so.
"""
NAME = "pico-w"
TIMER_ID = -1
TICK_MS = 5
WDT_TIMEOUT_MS = 8000  # the RP2040 watchdog allows at most 8.3 s

CP_PWM = 16
CP_ADC = 26
CP_ZERO_RAW = 32768
CP_MV_NUM = 26400
CP_MV_DEN = 65535

RELAY = 17
RELAY_SENSE = 18
RELAY_SENSE_ACTIVE_LOW = True
RELAY_KEEPALIVE = 12  # the coil driver holds only while this toggles (docs/hardware.md)
KEEPALIVE_MS = 25  # the keep-alive circuit's drop-out time (and the hard guard's limit)
# The flash journal (services/platform/flashgate.py): none yet. It needs the image to mount the
# file system on rp2.Flash(len=...) less 128 KB and the journal there as ("rp2", start,
# 131072) (docs/hardware.md); until then held writes live in RAM only.
JOURNAL = None
CP_COMPARATOR = None  # no pin left: the hard guard watches the keep-alive pulses only

RCD_TRIP = 19
RCD_TEST = 20
PE_OK = 21
PE_OK_ACTIVE_LOW = True

NTC_ADC = 27
NTC_BETA = 3950
NTC_R25 = 10000
NTC_PULLUP = 10000
MAINS_ADC = 28
MAINS_DV_NUM = 3300
MAINS_DV_DEN = 65535
CT_ADC = (None, None, None)
CT_DA_NUM = 1000
CT_DA_DEN = 65535

LED_PIN = 22
LED_COUNT = 9
BUZZER = 15
SERVICE_BUTTON = 14
TOUCH_BUTTON = 13  # a TTP223 touch-sensor IC's output
TOUCH_THRESHOLD = None
DIP_PINS = (6, 7, 8, 9)
DIP_LADDER_ADC = None

SPI_ID = 0
SPI_SCK = 2
SPI_MOSI = 3
SPI_MISO = 4
RC522_CS = 5
RC522_RST = 10
SD_CS = None  # no pin left; GP10 if the RC522 is reset over SPI (docs/hardware.md)
UART_ID = 0
UART_TX = 0
UART_RX = 1
RS485_DE = 11
