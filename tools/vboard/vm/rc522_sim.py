"""A register-level MFRC522 for the virtual board, with a field of up to two ISO 14443A
cards that the world fills over the link (vlink CARD_BYTE, CARD_SET, ...).

The chip speaks its SPI protocol: the first byte after chip select is an address
(bit 7 = read, bits 6..1 = register); while a read shifts out the addressed register,
the next address shifts in; a write may carry several data bytes for one register
(the FIFO). Modelled is what a driver depends on, and what real chips and cards do
when a driver gets it wrong:

- FIFO and its level/flush, ComIrq (set/clear semantics), Error, Coll, Control
  (RxLastBits), BitFraming (TxLastBits, StartSend), the version register, soft reset
  and the reset pin (registers back to their reset values), the antenna switch
  (TxControl: without the field the cards lose power and fall back to IDLE).
- The timer: with TModeReg.TAuto a frame nobody answers raises TimerIRq only after the
  programmed prescaler/reload time; without TAuto nothing is ever raised. Answers
  appear after their air time (~9.4 us per bit).
- Cards follow ISO/IEC 14443-3: IDLE -REQA/WUPA-> READY -SELECT per cascade level->
  ACTIVE -HLTA-> HALT, which answers WUPA only; any other frame in READY or ACTIVE
  sends a card back to IDLE (or HALT, if WUPA woke it from there). Answers: ATQA,
  anticollision (the level's 4 bytes with the cascade tag 0x88 + BCC), SAK + CRC_A.
  A SELECT with a wrong CRC or UID gets no answer.
- Two cards answering at once collide bit by bit (CollErr, CollReg's position).
- On demand: noise (bad BCC / CRC), partial frames, a dead reader (MISO reads 0), a
  reader that returns garbage, a spontaneous chip reset (brown-out).

Not modelled: bit-oriented anticollision frames (NVB other than 0x20 / 0x70: the
firmware reports collisions instead of resolving them), card memory and its crypto, the
CRC coprocessor, the IRQ pin, receiver gain affecting range.
"""
import random
import time

import vlink
from micropython import const

# private constants as const: no interned names in the VM (see machine.py)
_DEFAULTS = const(((0x01, 0x20), (0x02, 0x80), (0x04, 0x14), (0x07, 0x21), (0x0B, 0x08),
                   (0x0C, 0x10), (0x0E, 0xA0), (0x11, 0x3F), (0x14, 0x80), (0x16, 0x10),
                   (0x17, 0x84), (0x18, 0x84), (0x19, 0x4D), (0x1A, 0x62), (0x1F, 0xEB),
                   (0x21, 0xFF), (0x22, 0xFF), (0x24, 0x26), (0x26, 0x48), (0x27, 0x88),
                   (0x28, 0x20), (0x29, 0x20), (0x37, 0x92)))  # (register, reset value)
_READ_ONLY = const((0x06, 0x07, 0x08, 0x37))

_IDLE = const(0)  # a card's states
_READY = const(1)
_ACTIVE = const(2)
_HALT = const(3)
_GAP = const(3)  # empty frames before the same card counts as tapped again (firmware: 2)
_BIT_US_X100 = const(944)  # 106 kbit/s: 9.44 us per bit
_FDT_US = const(91)  # frame delay time of a card's answer


def crc_a(data):
    """CRC_A, bit by bit (independent of the driver's table-free variant)."""
    crc = 0x6363
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc


def _with_crc(data):
    c = crc_a(data)
    return bytes(data) + bytes((c & 0xFF, c >> 8))


class Card:
    def __init__(self, uid, sak=0x08):
        self.uid = bytes(uid)
        self.sak = sak  # final SAK (0x08: a 1 KB memory card, 0x00: a memory tag)
        self.state = _IDLE
        self.from_halt = False
        self.level = 0
        self.read = False  # selected once: the reader has its UID
        self.leaving = -1  # taken away: gone once read, or at this frame count at the latest
        u = self.uid
        if len(u) == 4:
            self.levels = [u]
        elif len(u) == 7:
            self.levels = [b"\x88" + u[:3], u[3:]]
        else:
            self.levels = [b"\x88" + u[:3], b"\x88" + u[3:6], u[6:]]

    def _back(self):
        if self.state in (_READY, _ACTIVE):
            self.state = _HALT if self.from_halt else _IDLE

    def answer(self, frame, n):
        """The card's answer to a frame (`n` valid bits in its last byte, 0 = 8)."""
        if len(frame) == 1 and n == 7:  # short frame
            cmd = frame[0]
            if (cmd == 0x52 and self.state in (_IDLE, _HALT)) or \
                    (cmd == 0x26 and self.state == _IDLE):
                self.from_halt = self.state == _HALT
                self.state = _READY
                self.level = 0
                size = (0x00, 0x40, 0x80)[len(self.levels) - 1]
                return bytes((size | 0x04, 0x00))
            self._back()
            return None
        if n or not frame:
            self._back()
            return None
        if self.state == _READY and len(frame) >= 2 and \
                frame[0] == (0x93, 0x95, 0x97)[self.level]:
            part = self.levels[self.level]
            bcc = part[0] ^ part[1] ^ part[2] ^ part[3]
            if frame[1] == 0x20 and len(frame) == 2:
                return part + bytes((bcc,))
            if frame[1] == 0x70 and len(frame) == 9 and crc_a(frame) == 0 and \
                    frame[2:6] == part and frame[6] == bcc:
                if self.level == len(self.levels) - 1:
                    self.state = _ACTIVE
                    self.read = True
                    return _with_crc(bytes((self.sak,)))
                self.level += 1
                return _with_crc(b"\x04")
        elif self.state == _ACTIVE and frame == _with_crc(b"\x50\x00"):
            self.state = _HALT
            return None
        self._back()
        return None


def _merge(*answers):  # *: no interned argument name
    """What the reader receives when several cards answer at once:
    (data, ErrorReg, CollReg)."""
    first = answers[0]
    if all(a == first for a in answers):
        return first, 0, 0xA0
    n = max(len(a) for a in answers)
    data = bytearray(n)
    for a in answers:
        for i in range(len(a)):
            data[i] |= a[i]
    pos = None
    for i in range(n * 8):
        vals = set((a[i // 8] >> (i % 8)) & 1 if i // 8 < len(a) else None for a in answers)
        if len(vals) > 1:
            pos = i + 1
            break
    coll = 0x20 if pos is None or pos > 32 else pos & 0x1F  # CollPosNotValid beyond 32
    return bytes(data), 0x08, coll


class Chip:
    def __init__(self):
        self.regs = bytearray(64)
        self.fifo = bytearray(64)
        self.level = 0
        self.cards = [None, None]
        self._stage = [bytearray(10), bytearray(10)]
        self.noise = vlink.NOISE_NONE
        self.mode = vlink.READER_OK
        self.powered = True  # the reset pin is high
        self.selected = False
        self._addr = None  # the transfer's address byte as received (bit 7: read), None: next
        self._due = None  # (ready at us, irq bits, data, error, coll, last bits)
        self.frames = 0  # frames sent by the driver (for tests)
        # The same card tapped again: it enters only once the driver has seen the field
        # empty for _GAP frames (see link)
        self.quiet = _GAP  # frames sent into an empty field since a card was last in it
        self.last_read = [None, None]  # the UID of the card last read in each slot
        self.entering = [None, None]
        self.resets = 0
        self.reset()

    def reset(self):
        r = self.regs
        for i in range(64):
            r[i] = 0
        for i, v in _DEFAULTS:
            r[i] = v
        self.level = 0
        self._due = None
        self.resets += 1
        self._power_cards(False)

    def _power_cards(self, on):
        if not on:
            for c in self.cards:
                if c is not None:
                    c.state = _IDLE

    # ------------------------------------------------------------- pins and SPI
    def cs(self, level):
        self.selected = level == 0
        self._addr = None

    def rst(self, level):
        if level and not self.powered:
            self.powered = True
            self.reset()
        elif not level:
            self.powered = False
            self._power_cards(False)

    def write_readinto(self, data, buf):
        """One SPI transfer while selected (machine.SPI's call): bytes in from `data`, out
        into `buf` (either may be None, or both the same buffer)."""
        for i in range(len(data) if data is not None else len(buf)):
            b = data[i] if data is not None else 0
            out = 0  # what MISO reads, also from a dead reader
            if self.selected and self.powered and self.mode != vlink.READER_DEAD:
                if self._addr is None:
                    self._addr = b
                elif self._addr & 0x80:  # a read: the next address shifts in, still a read
                    out = self._get((self._addr >> 1) & 0x3F)
                    self._addr = b | 0x80
                else:
                    self._put((self._addr >> 1) & 0x3F, b)
                if self.mode == vlink.READER_GARBAGE:
                    out = random.getrandbits(8)
            if buf is not None:
                buf[i] = out

    # -------------------------------------------------------------- registers
    def _settle(self):
        d = self._due
        if d is None or time.ticks_diff(time.ticks_us(), d[0]) < 0:
            return
        self._due = None
        _, irq, data, err, coll, last = d
        self.fifo[:len(data)] = data
        self.level = len(data)
        r = self.regs
        r[0x06] = err
        r[0x0E] = coll
        r[0x0C] = (r[0x0C] & 0xF8) | last
        r[0x04] |= irq

    def _get(self, a):
        self._settle()
        if a == 0x09:
            if not self.level:
                return 0
            v = self.fifo[0]
            self.fifo[:self.level - 1] = self.fifo[1:self.level]
            self.level -= 1
            return v
        if a == 0x0A:
            return self.level
        return self.regs[a]

    def _put(self, a, v):
        self._settle()
        r = self.regs
        if a == 0x01:
            cmd = v & 0x0F
            if cmd == 0x0F:
                self.reset()
                return
            r[1] = v
            if cmd == 0x00:
                self._due = None
        elif a in (0x04, 0x05):
            r[a] = (r[a] | (v & 0x7F)) if v & 0x80 else (r[a] & ~v & 0x7F)
        elif a == 0x09:
            if self.level < 64:
                self.fifo[self.level] = v
                self.level += 1
            else:
                r[0x06] |= 0x10  # BufferOvfl
        elif a == 0x0A:
            if v & 0x80:
                self.level = 0
                r[0x06] &= ~0x10
        elif a == 0x0D:
            r[a] = v & 0x7F
            if v & 0x80 and r[1] & 0x0F == 0x0C:
                self._transceive()
        elif a == 0x14:
            r[a] = v
            if not v & 0x03:
                self._power_cards(False)
        elif a not in _READ_ONLY:
            r[a] = v

    def _transceive(self):
        r = self.regs
        frame = bytes(self.fifo[:self.level])
        self.level = 0
        self.frames += 1
        for i in (0, 1):  # a card taken away before it was read (see link)
            c = self.cards[i]
            if c is not None and c.leaving >= 0 and (c.read or self.frames >= c.leaving):
                self._gone(i)
            if self.entering[i] is not None and self.quiet >= _GAP:
                self.cards[i], self.entering[i] = self.entering[i], None
        if self.cards[0] is None and self.cards[1] is None:
            self.quiet += 1
        else:
            self.quiet = 0
        bits = r[0x0D] & 0x07
        answers = []
        if r[0x14] & 0x03:
            for c in self.cards:
                if c is not None:
                    a = c.answer(frame, bits)
                    if a is not None:
                        answers.append(a)
        now = time.ticks_us()
        tx_us = (len(frame) * 9 - (8 - bits if bits else 0)) * _BIT_US_X100 // 100
        if not answers:
            if r[0x2A] & 0x80:  # TAuto: the timer runs out with nobody answering
                prescaler = (r[0x2A] & 0x0F) << 8 | r[0x2B]
                reload = r[0x2C] << 8 | r[0x2D]
                timer_us = (reload + 1) * (2 * prescaler + 1) * 100 // 1356
                self._due = (time.ticks_add(now, tx_us + timer_us), 0x01, b"", 0, 0xA0, 0)
            else:
                self._due = None  # no timer: nothing will ever be raised
            return
        data, err, coll = _merge(*answers)
        last = 0
        if self.noise == vlink.NOISE_CRC and len(data) > 2:
            data = data[:-1] + bytes((data[-1] ^ 0x01,))
        elif self.noise == vlink.NOISE_PARTIAL and len(data) > 1:
            data = data[:len(data) // 2]
            last = 3
        rx_us = _FDT_US + (len(data) * 9 + 1) * _BIT_US_X100 // 100
        irq = 0x20 | (0x02 if err else 0)
        self._due = (time.ticks_add(now, tx_us + rx_us), irq, data, err, coll, last)

    def _gone(self, slot):
        c = self.cards[slot]
        if c is not None and c.read:
            self.last_read[slot] = c.uid
        self.cards[slot] = None

    # ------------------------------------------------------------ the world
    def link(self, op, id, value):
        """A record from the world (applied on the main thread: it allocates)."""
        if op == vlink.CARD_BYTE:
            self._stage[id >> 4 & 1][id & 15 if id & 15 < 10 else 9] = value & 0xFF
        elif op == vlink.CARD_SET:
            n = value & 0xFF
            slot = id & 1
            old = self.cards[slot]
            if n in (4, 7, 10):
                card = Card(self._stage[slot][:n])
                self.entering[slot] = None
                if old is None and self.quiet < _GAP and card.uid == self.last_read[slot]:
                    # A card lifted for 1 s is seen gone on a board (2 polls); on a busy
                    # host the VM may not poll meanwhile, and the firmware would take the
                    # same card back as still held. Frames, not time: they count the polls.
                    self.entering[slot] = card
                else:
                    self.cards[slot] = card
            elif self.entering[slot] is not None:
                self.entering[slot].leaving = self.frames + _GAP + 12  # as below
            elif old is not None and not old.read and self.cards[1 - slot] is None and \
                    self.noise == vlink.NOISE_NONE and self.mode == vlink.READER_OK:
                # A card tapped for 0.6 s is read on a board (polls every 0.2 s); on a busy
                # host the VM may not poll at all meanwhile. So a lone card in a clean field
                # stays until it has been read once, or for 12 more frames at most: the
                # host's load must not look like a missed tap. Frames, not time: they
                # count the polls.
                old.leaving = self.frames + 12
            else:
                self._gone(slot)
        elif op == vlink.RFID_NOISE:
            self.noise = value
        elif op == vlink.RFID_READER:
            self.mode = value
        elif op == vlink.RFID_BROWNOUT:
            self.reset()


CHIP = Chip()


def attach():
    """Wire the chip as the virtual board has it: SPI bus, chip select and reset pins."""
    try:
        from firmware.boards import virtual as b
    except ImportError:
        return
    import machine  # which imports this module at its end: complete by now
    machine._buses.setdefault(b.SPI_ID, []).append(CHIP)
    machine._wired[b.RC522_CS] = CHIP.cs
    if b.RC522_RST is not None:
        machine._wired[b.RC522_RST] = CHIP.rst
