"""Gzip (RFC 1952) of a stream of chunks in constant RAM, for "Download All".

MicroPython's deflate.DeflateIO compresses only in builds with
MICROPY_PY_DEFLATE_COMPRESS, which the stock board firmware and the VM here lack
(docs/decisions.md). So: LZ77 over a 1 KB window (a 1024-entry hash of 3-byte prefixes)
and deflate's fixed Huffman codes, one block. RAM: the window plus the chunk being
compressed, a 2 KB hash table and the output of one chunk; never the whole input.

    for piece in gzip_chunks(text_chunks):   # str or bytes in, bytes out
        send(piece)
"""
from array import array
from binascii import crc32

from micropython import const

_WIN = const(1024)  # longest match distance; the history kept
_HASH = const(1023)  # hash table size - 1
_MAX_MATCH = const(258)
# the gzip header: deflate, no name, no time, no extra flags, OS unknown
HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
_LEN_BASE = (3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67,
             83, 99, 115, 131, 163, 195, 227, 258)
_LEN_EXTRA = (0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4,
              5, 5, 5, 5, 0)
_DIST_BASE = (1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769)
_DIST_EXTRA = (0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8)


def _reversed_bits(code, n):
    r = 0
    for _ in range(n):
        r = (r << 1) | (code & 1)
        code >>= 1
    return r


def _fixed_code(symbol):
    """Deflate's fixed Huffman code of a literal/length symbol: (code, bits)."""
    if symbol < 144:
        return 0x30 + symbol, 8
    if symbol < 256:
        return 0x190 + symbol - 144, 9
    if symbol < 280:
        return symbol - 256, 7
    return 0xC0 + symbol - 280, 8


class Deflater:
    """Raw deflate, one fixed-Huffman block: feed() bytes, then end()."""

    def __init__(self):
        self.codes = array("H", bytes(2 * 288))  # bit-reversed (written LSB first)
        self.lengths = bytearray(288)
        for s in range(288):
            code, n = _fixed_code(s)
            self.codes[s] = _reversed_bits(code, n)
            self.lengths[s] = n
        self.head = array("H", bytes(2 * (_HASH + 1)))  # hash -> position & 0xFFFF
        self.hist = bytearray()  # the window, then the bytes not yet coded
        self.base = 0  # the stream position of hist[0]
        self.done = 0  # bytes of hist already coded
        self.acc = 0
        self.nacc = 0
        self.out = bytearray()
        self._bits(3, 3)  # BFINAL 1, BTYPE 01: the last block, fixed codes

    def _bits(self, value, n):
        self.acc |= value << self.nacc
        self.nacc += n
        out = self.out
        while self.nacc >= 8:
            out.append(self.acc & 255)
            self.acc >>= 8
            self.nacc -= 8

    def _symbol(self, s):
        self._bits(self.codes[s], self.lengths[s])

    def _match(self, length, dist):
        i = 0
        while i < 28 and _LEN_BASE[i + 1] <= length:
            i += 1
        self._symbol(257 + i)
        if _LEN_EXTRA[i]:
            self._bits(length - _LEN_BASE[i], _LEN_EXTRA[i])
        d = 0
        while d < 19 and _DIST_BASE[d + 1] <= dist:
            d += 1
        self._bits(_reversed_bits(d, 5), 5)
        if _DIST_EXTRA[d]:
            self._bits(dist - _DIST_BASE[d], _DIST_EXTRA[d])

    def feed(self, data, final=False):
        """Code `data`; the compressed bytes so far (the last two input bytes wait for
        the next call, as a match may start there, unless `final`)."""
        h = self.hist
        h.extend(data)
        head = self.head
        i = self.done
        end = len(h)
        stop = end if final else end - 2
        while i < stop:
            if i + 2 < end:
                key = ((h[i] << 6) ^ (h[i + 1] << 3) ^ h[i + 2]) & _HASH
                pos = (self.base + i) & 0xFFFF
                dist = (pos - head[key]) & 0xFFFF
                head[key] = pos
                j = i - dist
                if 0 < dist <= _WIN and j >= 0 and h[j] == h[i] and \
                        h[j + 1] == h[i + 1] and h[j + 2] == h[i + 2]:
                    n = 3
                    limit = min(_MAX_MATCH, end - i)
                    while n < limit and h[j + n] == h[i + n]:
                        n += 1
                    self._match(n, dist)
                    i += n
                    continue
            self._symbol(h[i])
            i += 1
        cut = i - _WIN
        if cut > 0:
            self.hist = h[cut:]
            self.base += cut
            i -= cut
        self.done = i
        out = bytes(self.out)
        self.out = bytearray()
        return out

    def end(self):
        out = self.feed(b"", True)
        self._symbol(256)  # end of block
        if self.nacc:
            self._bits(0, 8 - self.nacc)
        return out + bytes(self.out)


def gzip_chunks(chunks):
    """The gzip file of the concatenated `chunks` (str as UTF-8, or bytes), in pieces."""
    yield HEADER
    z = Deflater()
    crc = 0
    size = 0
    for c in chunks:
        if isinstance(c, str):
            c = c.encode()
        crc = crc32(c, crc)
        size += len(c)
        out = z.feed(c)
        if out:
            yield out
    yield z.end() + (crc & 0xFFFFFFFF).to_bytes(4, "little") + \
        (size & 0xFFFFFFFF).to_bytes(4, "little")
