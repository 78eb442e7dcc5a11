"""ESP32-DevKitC (ESP32-WROOM-32). See docs/hardware.md for the front-end circuits.

ADC2 cannot be read while Wi-Fi runs, so every continuously read analog input is on
ADC1 (GPIO 32..39). That leaves no ADC1 pin for a third current transformer: on a
three-phase installation the L3 current comes from the meter (or is not measured).
The DIP switches are a resistor ladder on an ADC2 pin, read once at start-up before
Wi-Fi is up. GPIO 0 (boot strap) is not used for the service button, so holding it at
power-up does not enter the ROM bootloader.
"""
NAME = "esp32-devkit"
TIMER_ID = 0
TICK_MS = 5
WDT_TIMEOUT_MS = 8000

CP_PWM = 25
CP_ADC = 36
CP_ZERO_RAW = 32768
CP_MV_NUM = 26400
CP_MV_DEN = 65535

RELAY = 26
RELAY_SENSE = 33
RELAY_SENSE_ACTIVE_LOW = True
# The coil driver holds only while this toggles (docs/hardware.md); GPIO 0 is the last
# free pin: a strap pin, but the monostable's input is AC-coupled and never pulls it.
RELAY_KEEPALIVE = 0
KEEPALIVE_MS = 25  # the keep-alive circuit's drop-out time
# The flash journal (services/platform/flashgate.py): a 256 KB data partition labelled "journal"
# in the image's partition table (docs/hardware.md)
JOURNAL = ("esp32", "journal")
CP_COMPARATOR = None  # no hard pin IRQs on this port: a comparator would add nothing

RCD_TRIP = 4
RCD_TEST = 12  # strap pin: idles low, which it must at boot
PE_OK = 14
PE_OK_ACTIVE_LOW = True

NTC_ADC = 39
NTC_BETA = 3950
NTC_R25 = 10000
NTC_PULLUP = 10000
MAINS_ADC = 34
MAINS_DV_NUM = 3300
MAINS_DV_DEN = 65535
CT_ADC = (35, 32, None)
CT_DA_NUM = 1000
CT_DA_DEN = 65535

LED_PIN = 21
LED_COUNT = 9
BUZZER = 2
SERVICE_BUTTON = 15
TOUCH_BUTTON = 27  # touch pad T7
TOUCH_THRESHOLD = 200
DIP_PINS = None
DIP_LADDER_ADC = 13

SPI_ID = 2  # VSPI
SPI_SCK = 18
SPI_MOSI = 23
SPI_MISO = 19
RC522_CS = 5  # strap pin: idles high, as chip select should
RC522_RST = None  # soft reset over SPI; no pin left
SD_CS = None  # no pin left (docs/hardware.md)
UART_ID = 2
UART_TX = 17
UART_RX = 16
RS485_DE = 22
