"""An SD card on SPI as a block device for vfs.VfsFat (SD Physical Layer, SPI mode).

Ours, not micropython-lib's `sdcard` (docs/decisions.md): every wait is bounded by a
deadline, a write the card rejects or a card that vanishes raises OSError(EIO) instead
of being ignored, and the start-up (ACMD41, up to a second) is a generator the caller
steps with asyncio sleeps in between, not `time.sleep_ms` loops. Each SPI call moves at
most 512 bytes (~4 ms at 1 MHz), so the control tick runs between them.

    card = SDCard(spi, cs)
    for _ in card.start(): await asyncio.sleep_ms(10)   # OSError if no usable card
    vfs.mount(vfs.VfsFat(card), "/sd")
"""
from time import ticks_diff, ticks_ms

from micropython import const

_CMD_TRIES = const(16)  # bytes to wait for a command's answer (NCR is at most 8)
_READY_MS = const(1000)  # ACMD41 until the card leaves the idle state
_TOKEN_MS = const(200)  # a read's data token (SD: 100 ms)
_BUSY_MS = const(500)  # a write's busy time (SD: 250 ms for SDSC, 500 ms SDHC)
_IDLE = const(0x01)
_ILLEGAL = const(0x04)
_TOKEN_DATA = const(0xFE)
_EIO = const(5)
_ENODEV = const(19)


def _crc7(buf, n):
    crc = 0
    for i in range(n):
        crc ^= buf[i]
        for _ in range(8):
            crc = ((crc << 1) ^ 0x12) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


class SDCard:
    def __init__(self, spi, cs, baudrate=1000000):
        """`spi`: the bus (shared with the RFID reader), `baudrate`: the bus's rate, set
        back after the card's start at 400 kHz."""
        self.spi = spi
        self.cs = cs
        self.baudrate = baudrate
        self.frame = bytearray(6)
        self.byte = bytearray(1)
        self.crc = bytearray(2)
        self.ones = memoryview(bytearray(b"\xff" * 512))  # MOSI high while reading
        self.sectors = 0
        self.per_block = 1  # address units per block: 1 (SDHC) or 512 (SDSC)
        cs.init(cs.OUT, value=1)

    # ------------------------------------------------------------------ bytes
    def _xfer(self, out=0xFF):
        b = self.byte
        b[0] = out
        self.spi.write_readinto(b, b)
        return b[0]

    def _command(self, cmd, arg, extra=None):
        """Send a command with CS held low; its R1 answer (0xFF: none). `extra`: a
        buffer for the bytes that follow R1 (R3/R7)."""
        f = self.frame
        f[0] = 0x40 | cmd
        f[1] = (arg >> 24) & 0xFF
        f[2] = (arg >> 16) & 0xFF
        f[3] = (arg >> 8) & 0xFF
        f[4] = arg & 0xFF
        f[5] = _crc7(f, 5) | 1  # the CRC7 in the top 7 bits, the end bit
        self.cs(0)
        self._xfer()
        self.spi.write(f)
        for _ in range(_CMD_TRIES):
            r = self._xfer()
            if not r & 0x80:
                if extra is not None:
                    self.spi.write_readinto(self.ones[:len(extra)], extra)
                return r
        return 0xFF

    def _release(self):
        self.cs(1)
        self._xfer()

    def _simple(self, cmd, arg, extra=None):
        try:
            return self._command(cmd, arg, extra)
        finally:
            self._release()

    def _wait_token(self):
        t0 = ticks_ms()
        while True:
            r = self._xfer()
            if r == _TOKEN_DATA:
                return
            if r != 0xFF or ticks_diff(ticks_ms(), t0) > _TOKEN_MS:
                raise OSError(_EIO)

    def _read_data(self, buf):
        self._wait_token()
        self.spi.write_readinto(self.ones[:len(buf)], buf)
        self.spi.write_readinto(self.ones[:2], self.crc)  # CRC off in SPI mode: skipped

    # ------------------------------------------------------------------ start
    def start(self):
        """A generator: steps the card from power-up to ready; the caller sleeps between
        steps. OSError(ENODEV) if no card answers, OSError(EIO) if it is not usable."""
        self.spi.init(baudrate=400000, polarity=0, phase=0)  # identification mode
        try:
            yield from self._identify()
        finally:
            self.spi.init(baudrate=self.baudrate, polarity=0, phase=0)

    def _identify(self):
        self.cs(1)
        self.spi.write(self.ones[:10])  # 80 clocks with CS high: into SPI mode
        for _ in range(5):
            if self._simple(0, 0) == _IDLE:
                break
        else:
            raise OSError(_ENODEV)
        r7 = bytearray(4)
        r = self._simple(8, 0x1AA, r7)
        v2 = r == _IDLE
        if v2 and r7[3] != 0xAA:
            raise OSError(_EIO)
        if not v2 and r != _IDLE | _ILLEGAL:
            raise OSError(_EIO)
        t0 = ticks_ms()
        while True:
            self._simple(55, 0)
            r = self._simple(41, 0x40000000 if v2 else 0)
            if r == 0:
                break
            if r != _IDLE or ticks_diff(ticks_ms(), t0) > _READY_MS:
                raise OSError(_EIO)
            yield
        ocr = bytearray(4)
        if v2 and self._simple(58, 0, ocr) == 0 and ocr[0] & 0x40:
            self.per_block = 1  # SDHC/SDXC: block addresses
        else:
            self.per_block = 512
            if self._simple(16, 512) != 0:
                raise OSError(_EIO)
        csd = bytearray(16)
        try:
            if self._command(9, 0) != 0:
                raise OSError(_EIO)
            self._read_data(csd)
        finally:
            self._release()
        if csd[0] & 0xC0 == 0x40:  # CSD 2.0
            self.sectors = ((csd[7] & 0x3F) << 16 | csd[8] << 8 | csd[9]) + 1 << 10
        else:  # CSD 1.0
            size = (csd[6] & 3) << 10 | csd[7] << 2 | csd[8] >> 6
            mult = (csd[9] & 3) << 1 | csd[10] >> 7
            self.sectors = (size + 1) << (mult + 2 + (csd[5] & 15) - 9)

    def present(self):
        """Does the card still answer (CMD13, SEND_STATUS)?"""
        return self._simple(13, 0, self.byte) == 0

    # ------------------------------------------------------------------ block device
    def readblocks(self, block, buf):
        mv = memoryview(buf)
        for i in range(len(buf) // 512):
            try:
                if self._command(17, (block + i) * self.per_block) != 0:
                    raise OSError(_EIO)
                self._read_data(mv[i * 512:i * 512 + 512])
            finally:
                self._release()

    def writeblocks(self, block, buf):
        mv = memoryview(buf)
        for i in range(len(buf) // 512):
            try:
                if self._command(24, (block + i) * self.per_block) != 0:
                    raise OSError(_EIO)
                self._xfer()
                self._xfer(_TOKEN_DATA)
                self.spi.write(mv[i * 512:i * 512 + 512])
                self.spi.write(self.ones[:2])  # CRC (not checked in SPI mode)
                if self._xfer() & 0x1F != 0x05:  # data response: accepted?
                    raise OSError(_EIO)
                t0 = ticks_ms()
                while self._xfer() == 0:  # busy while programming
                    if ticks_diff(ticks_ms(), t0) > _BUSY_MS:
                        raise OSError(_EIO)
            finally:
                self._release()

    def ioctl(self, op, arg):
        if op == 4:  # number of blocks
            return self.sectors
        if op == 5:  # block size
            return 512
        return 0
