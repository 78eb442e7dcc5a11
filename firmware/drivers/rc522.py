"""MFRC522 RFID reader over SPI: ISO 14443A cards (ISO 15693 is beyond this chip).

`read()` wakes every card in the field (WUPA), runs anticollision and SELECT through
all cascade levels (cascade tag 0x88: 4-, 7- and 10-byte UIDs), checks each level's BCC
and the SAK's CRC_A, then halts the card (HLTA). A halted card answers WUPA again on the
next poll, so a card left on the reader reads as the same UID every time and the caller
sees one tap; a card that leaves stops answering. Two cards at once are reported as a
collision rather than resolved: the user is asked to hold one card.

Nothing blocks: every wait on the chip is bounded (its timer raises TimerIRq ~1 ms
after a frame nobody answers; a chip that raises nothing within _WAIT_US is reported as
failed), and `read()` yields to the event loop between frames, so it holds the loop for
one frame's air time at most. Register access uses one preallocated 2-byte buffer and
allocates nothing.
"""
import asyncio
from time import ticks_diff, ticks_us

from micropython import const

_COMMAND = const(0x01)
_COM_IRQ = const(0x04)
_ERROR = const(0x06)
_FIFO_DATA = const(0x09)
_FIFO_LEVEL = const(0x0A)
_CONTROL = const(0x0C)
_BIT_FRAMING = const(0x0D)
_MODE = const(0x11)
_TX_CONTROL = const(0x14)
_TX_ASK = const(0x15)
_RF_CFG = const(0x26)
_T_MODE = const(0x2A)
_T_PRESCALER = const(0x2B)
_T_RELOAD_H = const(0x2C)
_T_RELOAD_L = const(0x2D)
_VERSION = const(0x37)

_IDLE = const(0x00)
_TRANSCEIVE = const(0x0C)
_SOFT_RESET = const(0x0F)

_WUPA = const(0x52)
_SELECT_NVB = const(0x70)  # SELECT: all 40 bits (UID part + BCC) follow
_ANTICOLL_NVB = const(0x20)  # anticollision: the card sends its whole UID part
_HLTA = const(0x50)
_CASCADE_TAG = const(0x88)
_SAK_CASCADE = const(0x04)
_SEL_LEVELS = const((0x93, 0x95, 0x97))  # SEL of cascade levels 1, 2, 3
_ATQA_LEN = const(2)
_VERSIONS = const((0x91, 0x92, 0x88, 0x89, 0xB2, 0x12))  # MFRC522 1.0, 2.0; clones

# Register bits
_READ_ADDR = const(0x80)  # SPI address byte: read
_T_AUTO = const(0x80)  # TModeReg: the timer starts when a frame has been sent
_FORCE_100_ASK = const(0x40)  # TxASKReg: 100 % ASK, as type A needs
_MODE_CRC_6363 = const(0x3D)  # ModeReg: CRC preset 0x6363
_ANTENNA_ON = const(0x03)  # TxControlReg: Tx1RFEn, Tx2RFEn
_ALL_IRQS = const(0x7F)  # ComIrqReg: clear every interrupt bit
_FLUSH = const(0x80)  # FIFOLevelReg: FlushBuffer
_FIFO_COUNT = const(0x7F)  # FIFOLevelReg: bytes in the FIFO
_START_SEND = const(0x80)  # BitFramingReg: StartSend
_ANSWER_IRQS = const(0x30)  # ComIrqReg: RxIRq or IdleIRq, an answer came
_TIMER_IRQ = const(0x01)  # ComIrqReg: TimerIRq, nobody answered
_COLL_ERR = const(0x08)  # ErrorReg: CollErr
_FRAME_ERRS = const(0x13)  # ErrorReg: BufferOvfl, ParityErr, ProtocolErr
_RX_LAST_BITS = const(0x07)  # ControlReg: the frame ended inside a byte

_PRESCALER = const(67)  # 13.56 MHz / (2 * 67 + 1): ~10 us per timer count
_RELOAD = const(100)  # ~1 ms; a card answers ~0.1 ms after the frame
_WAIT_US = const(5000)  # longest wait for any interrupt bit before the chip counts as failed

# read() results besides a UID length (> 0); core/auth.py uses the same values
_NONE = const(0)
_COLLIDED = const(-1)
_BROKEN = const(-2)  # a card answered, but with a broken frame (CRC, BCC, partial, ...)
_FAILED = const(-3)  # the reader itself does not behave
_SILENT = const(-4)  # internal: nobody answered the frame
_READ = const(-5)  # internal: the UID is complete


def _crc(buf, n):
    """CRC_A (ISO/IEC 14443-3 annex B) of buf[:n]."""
    crc = 0x6363
    for i in range(n):
        b = (buf[i] ^ crc) & 0xFF
        b = (b ^ (b << 4)) & 0xFF
        crc = (crc >> 8) ^ (b << 8) ^ (b << 3) ^ (b >> 4)
    return crc


class RC522:
    def __init__(self, spi, cs, rst=None):
        """`spi`: a machine.SPI (mode 0, up to 10 MHz); `cs`, `rst`: output Pins (rst
        may be None: soft reset over SPI)."""
        self._spi = spi
        self._cs = cs
        self._rst = rst
        self._b = bytearray(2)
        self.buf = bytearray(16)  # frames to and from the card
        self.uid = bytearray(10)  # the last UID read, first byte first
        self.sak = 0
        self.version = 0  # the version register found by start(), 0 = not working
        self.gain = 4
        self.busy_us_max = 0  # longest stretch read() held the event loop

    # ------------------------------------------------------------- registers
    def _wr(self, reg, value):
        b = self._b
        b[0] = reg << 1
        b[1] = value
        self._cs(0)
        self._spi.write(b)
        self._cs(1)

    def _rd(self, reg):
        b = self._b
        b[0] = _READ_ADDR | (reg << 1)
        b[1] = 0
        self._cs(0)
        self._spi.write_readinto(b, b)
        self._cs(1)
        return b[1]

    def set_gain(self, step):
        """Receiver gain 0..7 (18, 23, 18, 23, 33, 38, 43, 48 dB)."""
        self.gain = step & 7
        self._wr(_RF_CFG, self.gain << 4)

    async def start(self, gain=4):
        """Reset and configure the chip; returns its version (0x91/0x92, clones 0x88,
        0x89, 0xB2, 0x12), or 0 if no working chip answers."""
        self.version = 0
        if self._rst is not None:
            self._rst(0)
            await asyncio.sleep_ms(1)
            self._rst(1)
        else:
            self._wr(_COMMAND, _SOFT_RESET)
        await asyncio.sleep_ms(50)  # oscillator start-up
        v = self._rd(_VERSION)
        if v not in _VERSIONS:
            return 0
        w = self._wr
        w(_T_MODE, _T_AUTO)
        w(_T_PRESCALER, _PRESCALER)
        w(_T_RELOAD_H, 0)
        w(_T_RELOAD_L, _RELOAD)
        w(_TX_ASK, _FORCE_100_ASK)
        w(_MODE, _MODE_CRC_6363)
        self.set_gain(gain)
        w(_TX_CONTROL, self._rd(_TX_CONTROL) | _ANTENNA_ON)
        if self._rd(_T_PRESCALER) != _PRESCALER:
            return 0  # registers do not hold what was written
        self.version = v
        return v

    def _send(self, n, last_bits):
        """Start sending buf[:n] (of the last byte only `last_bits` bits if not 0)."""
        w = self._wr
        buf = self.buf
        w(_COMMAND, _IDLE)
        w(_COM_IRQ, _ALL_IRQS)
        w(_FIFO_LEVEL, _FLUSH)
        for i in range(n):
            w(_FIFO_DATA, buf[i])
        w(_BIT_FRAMING, last_bits)
        w(_COMMAND, _TRANSCEIVE)
        w(_BIT_FRAMING, _START_SEND | last_bits)

    def _transceive(self, n, last_bits):
        """Send buf[:n] and wait for the answer, which lands in buf. Returns its length
        or _SILENT, _COLLIDED, _BROKEN, _FAILED."""
        rd = self._rd
        buf = self.buf
        self._send(n, last_bits)
        t0 = ticks_us()
        while True:
            # the deadline is taken before the read, so a pause of the program itself
            # (an interrupt, a collection) is never mistaken for a silent chip
            late = ticks_diff(ticks_us(), t0) > _WAIT_US
            irq = rd(_COM_IRQ)
            if irq & _ANSWER_IRQS:
                break
            if irq & _TIMER_IRQ:
                return _SILENT
            if late:
                return _FAILED
        err = rd(_ERROR)
        if err & _COLL_ERR:
            return _COLLIDED
        if err & _FRAME_ERRS:
            return _BROKEN
        got = rd(_FIFO_LEVEL) & _FIFO_COUNT
        if got > len(buf):
            return _BROKEN
        for i in range(got):
            buf[i] = rd(_FIFO_DATA)
        if rd(_CONTROL) & _RX_LAST_BITS:
            return _BROKEN
        return got

    def _lap(self, t0):
        d = ticks_diff(ticks_us(), t0)
        if d > self.busy_us_max:
            self.busy_us_max = d

    async def read(self):
        """Poll the field once. Returns the UID's length (> 0; the UID is in uid), 0 if
        no card answered, or _COLLIDED, _BROKEN, _FAILED (< 0)."""
        t0 = ticks_us()
        if self.version == 0 or self._rd(_VERSION) != self.version:
            return _FAILED  # not started, or garbage on the bus
        buf = self.buf
        buf[0] = _WUPA
        n = self._transceive(1, 7)  # a short frame of 7 bits
        if n == _SILENT or n == _FAILED:
            self._lap(t0)
            return _NONE if n == _SILENT else n
        size = 0
        uid = self.uid
        for sel in _SEL_LEVELS if n == _ATQA_LEN else ():
            self._lap(t0)
            await asyncio.sleep_ms(0)
            t0 = ticks_us()
            buf[0] = sel
            buf[1] = _ANTICOLL_NVB
            n = self._transceive(2, 0)
            if n != 5 or buf[0] ^ buf[1] ^ buf[2] ^ buf[3] != buf[4]:
                break
            self._lap(t0)
            await asyncio.sleep_ms(0)
            t0 = ticks_us()
            for i in range(4):
                uid[size + i] = buf[i]
            for i in range(4, -1, -1):
                buf[i + 2] = buf[i]
            buf[0] = sel
            buf[1] = _SELECT_NVB
            crc = _crc(buf, 7)
            buf[7] = crc & 0xFF
            buf[8] = crc >> 8
            n = self._transceive(9, 0)
            if n != 3 or _crc(buf, 1) != buf[1] | buf[2] << 8:
                break
            if not buf[0] & _SAK_CASCADE:
                self.sak = buf[0]
                size += 4
                n = _READ
                break
            if uid[size] != _CASCADE_TAG or size == 6:
                break
            uid[size] = uid[size + 1]
            uid[size + 1] = uid[size + 2]
            uid[size + 2] = uid[size + 3]
            size += 3
        # HLTA: a selected card halts (silent until woken again, so the next poll sees
        # the same card); any other card left half-way goes back to idle. Nothing
        # answers a HLTA: sent without waiting (the next poll is long after it).
        buf[0] = _HLTA
        buf[1] = 0
        crc = _crc(buf, 2)
        buf[2] = crc & 0xFF
        buf[3] = crc >> 8
        self._send(4, 0)
        self._lap(t0)
        if n == _READ:
            return size
        return n if n == _COLLIDED or n == _FAILED else _BROKEN
