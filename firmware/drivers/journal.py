"""A write-ahead journal on a raw flash partition: records appended to pre-erased flash
with page programs only, so that writing one never erases (docs/decisions.md: a sector
erase holds the chip for 45 to 400 ms, a page program for about 1 ms).

`dev` is a block device with the extended protocol (esp32.Partition, rp2.Flash(start=,
len=), the virtual board's vflash.Partition): writeblocks(block, buf, offset) programs
without erasing, ioctl(6, block) erases one block. A record is a header (magic, kind,
length, CRC-32 of the payload) and its payload; it is programmed page by page (256
bytes, aligned: the RP2040's flash_range_program needs that), each page image 0xFF
except the record's bytes, so the bytes already programmed stay as they are. A record
torn by a power cut fails its CRC and ends the journal. Erasing happens only in
`erase()`, which the caller runs while the relay is open.
"""
import struct
from binascii import crc32

from micropython import const

_MAGIC = const(0x4A)
_HEAD = const(8)  # magic, kind, payload length (2), CRC-32 (4)
_PAGE = const(256)
_ERASED = const(0xFF)
_BLANK = b"\xff" * 256  # an erased page
MAX_RECORD = const(4096)  # a longer one is refused (the caller keeps it in RAM)


class Journal:
    def __init__(self, dev):
        self.dev = dev
        self.block = dev.ioctl(5, 0)
        self.size = dev.ioctl(4, 0) * self.block
        self._page = bytearray(_PAGE)
        self._head = bytearray(_HEAD)
        self.end = 0  # where the next record goes
        self.dirty = False  # something lies beyond the last good record (torn, garbage)
        for _ in self.records():  # finds the end
            pass

    def _read(self, pos, buf):
        """Fill buf from byte `pos` (reads may cross blocks)."""
        mv = memoryview(buf)
        done = 0
        while done < len(buf):
            blk, off = divmod(pos + done, self.block)
            n = min(len(buf) - done, self.block - off)
            self.dev.readblocks(blk, mv[done:done + n], off)
            done += n

    def _erased(self, pos, n):
        page = self._page
        end = min(self.size, pos + n)
        while pos < end:
            k = min(_PAGE, end - pos)
            self._read(pos, memoryview(page)[:k])
            for i in range(k):
                if page[i] != _ERASED:
                    return False
            pos += k
        return True

    def records(self):
        """(kind, payload bytes) of each good record in order; sets `end` and `dirty`."""
        pos = 0
        head = self._head
        self.dirty = False
        while pos + _HEAD <= self.size:
            self._read(pos, head)
            if head[0] != _MAGIC:
                # a payload is programmed before its header: a power cut between the
                # two leaves bytes after an erased header, which the next append would
                # program over; so the span a record may take must be erased too
                self.dirty = not self._erased(pos, _HEAD + MAX_RECORD)
                break
            _, kind, n, crc = struct.unpack("<BBHI", head)
            if pos + _HEAD + n > self.size:
                self.dirty = True
                break
            payload = bytearray(n)
            self._read(pos + _HEAD, payload)
            if crc32(payload) != crc:
                self.dirty = True  # torn by a power cut: nothing after it counts
                break
            pos += _HEAD + n
            self.end = pos
            yield kind, payload
        self.end = pos

    def append(self, kind, payload):
        """Program one record; False if it does not fit (the journal is full)."""
        n = len(payload)
        if n > MAX_RECORD or self.end + _HEAD + n > self.size:
            return False
        struct.pack_into("<BBHI", self._head, 0, _MAGIC, kind, n, crc32(payload))
        self._program(self.end + _HEAD, payload)  # the payload first: a header promises
        self._program(self.end, self._head)  # only what is already there
        self.end += _HEAD + n
        return True

    def _program(self, pos, data):
        page = self._page
        done = 0
        while done < len(data):
            start = (pos + done) // _PAGE * _PAGE
            off = pos + done - start
            n = min(len(data) - done, _PAGE - off)
            page[0:_PAGE] = _BLANK
            page[off:off + n] = data[done:done + n]
            blk, boff = divmod(start, self.block)
            self.dev.writeblocks(blk, page, boff)
            done += n

    def erase(self):
        """Erase what was used (and, after a torn record or garbage, all of it). Only
        while the relay is open: each block takes up to 400 ms with interrupts off."""
        last = self.size if self.dirty else self.end
        for blk in range((last + self.block - 1) // self.block):
            self.dev.ioctl(6, blk)
        self.end = 0
        self.dirty = False

    def used(self):
        return self.end > 0 or self.dirty


def open_device(spec):
    """The raw partition a board's JOURNAL names: ("esp32", label) an esp32.Partition
    of the partition table, ("rp2", start, len) an rp2.Flash window outside the file
    system, or (module, args...) a module's Partition(args...) (the virtual board)."""
    kind = spec[0]
    if kind == "esp32":
        import esp32
        found = esp32.Partition.find(esp32.Partition.TYPE_DATA, label=spec[1])
        if not found:
            raise OSError("no partition " + spec[1])
        return found[0]
    if kind == "rp2":
        import rp2
        return rp2.Flash(start=spec[1], len=spec[2])
    return __import__(kind).Partition(*spec[1:])
