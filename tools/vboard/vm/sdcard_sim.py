"""An SD card in SPI mode for the virtual board, backed by a FAT image file on the host.

The card speaks the SD Physical Layer's SPI protocol byte by byte: 6-byte command
frames (CRC checked for CMD0 and CMD8, as real cards do), R1 after one byte of NCR,
R3/R7 (CMD58, CMD8), R2 (CMD13), the CSD (CMD9, version 2.0: the image's size in
512 KB units), single-block reads (CMD17: data token, 512 bytes, CRC) and writes
(CMD24: token, data, CRC, the data response, then busy bytes while it programs),
CMD16, CMD55/ACMD41 (idle for the first two tries, as a card that powers up). A card
that has not had CMD0 since it was inserted answers nothing else.

The slot is driven by files beside the image (`VBOARD_SD`, a path):
- the image exists: a card is in the slot; removed (renamed, deleted): none, MISO
  floats high, and a card put back must be started again;
- `<image>.pull` holding N: the card is pulled out after N more block writes (it
  then renames the image to `<image>.removed`): a card removed mid-write.
A full card is an image whose file system is full (the test makes it).
"""
import os

_IDLE = 0x01
_ILLEGAL = 0x04
_CRC_ERR = 0x08


def _crc7(buf):
    crc = 0
    for b in buf:
        crc ^= b
        for _ in range(8):
            crc = ((crc << 1) ^ 0x12) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


class Card:
    def __init__(self, path):
        self.path = path
        self.selected = False
        self.out = b""  # bytes the card shifts out next, from out[at]
        self.at = 0
        self.cmd = bytearray()
        self.spi_mode = False
        self.inside = False
        self.acmd = False
        self.tries = 0
        self.rx = None  # a write's data block being received (bytearray) or None
        self.rx_block = 0
        self.pull = -1  # block writes left before the card is pulled out; -1: never
        self.writes = 0

    def cs(self, level):
        self.selected = level == 0
        self.cmd = bytearray()

    def _present(self):
        try:
            os.stat(self.path)
        except OSError:
            if self.inside:
                self.inside = False
                self.spi_mode = False
            return False
        if not self.inside:  # just inserted: powered up, not in SPI mode yet
            self.inside = True
            self.spi_mode = False
            self.tries = 0
            try:
                with open(self.path + ".pull") as f:
                    self.pull = int(f.read())
            except (OSError, ValueError):
                self.pull = -1
        return True

    def _sectors(self):
        return os.stat(self.path)[6] // 512

    def write_readinto(self, data, buf):
        n = len(data) if data is not None else len(buf)
        for i in range(n):
            o = 0xFF
            if self.at < len(self.out):
                o = self.out[self.at]
                self.at += 1
            b = data[i] if data is not None else 0xFF
            self._take(b)
            if buf is not None:
                buf[i] = o

    def _take(self, b):
        if self.rx is not None:
            self._data(b)
            return
        if not self.cmd and (b & 0xC0) != 0x40:
            return
        self.cmd.append(b)
        if len(self.cmd) == 6:
            frame = self.cmd
            self.cmd = bytearray()
            if self._present():
                self._command(frame)

    def _answer(self, *parts):
        out = bytearray(b"\xff")  # NCR: one byte before the answer
        for p in parts:
            out += bytes([p]) if isinstance(p, int) else p
        self.out = out
        self.at = 0

    def _command(self, f):
        cmd = f[0] & 0x3F
        arg = f[1] << 24 | f[2] << 16 | f[3] << 8 | f[4]
        idle = 0 if self.ready else _IDLE
        if cmd == 0:
            if f[5] != (_crc7(f[:5]) | 1):
                self._answer(_IDLE | _CRC_ERR)
                return
            self.spi_mode = True
            self.ready = False
            self.tries = 0
            self._answer(_IDLE)
            return
        if not self.spi_mode:
            return  # not started: no answer
        acmd = self.acmd
        self.acmd = False
        if cmd == 8:
            if f[5] != (_crc7(f[:5]) | 1):
                self._answer(idle | _CRC_ERR)
            else:
                self._answer(idle, bytes([0, 0, 1, arg & 0xFF]))
        elif cmd == 55:
            self.acmd = True
            self._answer(idle)
        elif cmd == 41 and acmd:
            self.tries += 1
            self.ready = self.tries > 2 and bool(arg & 0x40000000)
            self._answer(0 if self.ready else _IDLE)
        elif cmd == 58:
            self._answer(idle, b"\xc0\xff\x80\x00" if self.ready else b"\x00\xff\x80\x00")
        elif not self.ready:
            self._answer(_IDLE | _ILLEGAL)
        elif cmd == 9:
            c_size = self._sectors() // 1024 - 1
            csd = bytearray(16)
            csd[0] = 0x40
            csd[7] = (c_size >> 16) & 0x3F
            csd[8] = (c_size >> 8) & 0xFF
            csd[9] = c_size & 0xFF
            self._answer(0, b"\xff\xfe", csd, b"\x00\x00")
        elif cmd == 13:
            self._answer(0, b"\x00")
        elif cmd == 16:
            self._answer(0)
        elif cmd == 17:
            if arg >= self._sectors():
                self._answer(0x20)  # address error
                return
            with open(self.path, "rb") as f:
                f.seek(arg * 512)
                block = f.read(512)
            self._answer(0, b"\xff\xff\xfe", block, b"\x00\x00")
        elif cmd == 24:
            if arg >= self._sectors():
                self._answer(0x20)
                return
            self._answer(0)
            self.rx = bytearray()
            self.rx_block = arg
        else:
            self._answer(idle | _ILLEGAL)

    ready = False

    def _data(self, b):
        rx = self.rx
        if not rx and b != 0xFE:
            return  # waiting for the start token
        rx.append(b)
        if len(rx) < 1 + 512 + 2:
            return
        self.rx = None
        if not self._present():
            return
        if self.pull == 0:
            os.rename(self.path, self.path + ".removed")  # pulled out while writing
            self._present()
            return
        with open(self.path, "r+b") as f:
            f.seek(self.rx_block * 512)
            f.write(rx[1:513])
        self.writes += 1
        if self.pull > 0:
            self.pull -= 1
        self.out = b"\x05\x00\x00\x00"  # accepted, then busy while programming
        self.at = 0


CARD = None


def attach(machine, board):
    """Wire a card slot on the board's SPI bus (imported only when VBOARD_SD names an
    image path: other runs of the virtual board do not pay for the model's code)."""
    global CARD
    path = os.getenv("VBOARD_SD")
    cs = getattr(board, "SD_CS", None)
    if not path or cs is None:
        return
    CARD = Card(path)
    machine._buses.setdefault(board.SPI_ID, []).append(CARD)
    machine._wired[cs] = CARD.cs
