"""Energy meter models as data, and decoding of their registers into the firmware's units.

A model is a short text, the same notation the installer uses for the "custom" model
(docs/meters.md):

    fc4 lo v=0,2,4:f32:0 i=6,8,10:f32:0 p=12,14,16:f32:0 pt=52:f32:0 ei=72:f32:0 ee=74:f32:0

`fc3`/`fc4` is the function code (holding / input registers), `lo` means the low word
comes first (default: high word first). Each quantity is `name=register[,register..]:
type:unit`, where unit is the power of ten of one register count in V, A, W or kWh
(0.1 V -> -1, mA -> -3, 0.01 kWh -> -2). Types: f32 s32 u32 s16 u16 u64.

Decoded values are ints in the firmware's units, in the order of FIELDS: voltages in
0.1 V, currents in 0.1 A, powers in W (import positive), energies in Wh; None where the
model has no such register or the register held NaN/infinity.
"""
import struct

from micropython import const

FIELDS = ("v1", "v2", "v3", "i1", "i2", "i3", "p1", "p2", "p3", "pt", "ei", "ee")
V1 = const(0)
I1 = const(3)
P1 = const(6)
PT = const(9)
EI = const(10)
EE = const(11)

_GROUPS = ("v", "i", "p", "pt", "ei", "ee")
_FIRST = (0, 3, 6, 9, 10, 11)  # first field of each group
_SHIFT = (1, 1, 0, 0, 3, 3)  # unit -> firmware unit: V->0.1 V, A->0.1 A, W, kWh->Wh
_TYPES = ("f32", "s32", "u32", "s16", "u16", "u64")
_WORDS = (2, 2, 2, 1, 1, 4)
_MERGE_GAP = const(0)  # read only listed registers: real meters may refuse gaps

_SDM3 = "fc4 v=0,2,4:f32:0 i=6,8,10:f32:0 p=12,14,16:f32:0 pt=52:f32:0 ei=72:f32:0 ee=74:f32:0"
_SDM1 = "fc4 v=0:f32:0 i=6:f32:0 p=12:f32:0 pt=12:f32:0 ei=72:f32:0 ee=74:f32:0"
_B2X = ("fc3 v=0x5B00,0x5B02,0x5B04:u32:-1 i=0x5B0C,0x5B0E,0x5B10:u32:-2 "
        "p=0x5B16,0x5B18,0x5B1A:s32:-2 pt=0x5B14:s32:-2 ei=0x5000:u64:-2 ee=0x5004:u64:-2")
_EM3X = ("fc4 lo v=0,2,4:s32:-1 i=12,14,16:s32:-3 p=18,20,22:s32:-1 pt=40:s32:-1 "
       "ei=52:s32:-1 ee=78:s32:-1")
MODELS = {"sdm630": _SDM3, "sdm72": _SDM3, "sdm120": _SDM1, "sdm230": _SDM1,
          "b23": _B2X, "b24": _B2X, "em330": _EM3X, "em340": _EM3X}


class Plan:
    """A parsed model: what to read (`blocks`) and where each field is in the bytes."""

    def __init__(self, spec):
        self.fc = 4
        self.lo = False
        fields = [-1] * 12  # register << 8 | type << 4 | (exponent + 8)
        try:
            for tok in spec.split():
                if tok == "fc3" or tok == "fc4":
                    self.fc = int(tok[2])
                elif tok == "lo":
                    self.lo = True
                else:
                    name, rest = tok.split("=")
                    regs, typ, unit = rest.split(":")
                    g = _GROUPS.index(name)
                    t = _TYPES.index(typ)
                    e = int(unit) + _SHIFT[g]
                    regs = regs.split(",")
                    if len(regs) > (3 if g < 3 else 1) or not -8 <= e < 8:
                        raise ValueError
                    for k in range(len(regs)):
                        r = int(regs[k], 0)
                        if not 0 <= r <= 0xFFFF - 4:
                            raise ValueError
                        fields[_FIRST[g] + k] = r << 8 | t << 4 | (e + 8)
        except ValueError:
            raise ValueError("bad meter model: " + spec[:40])
        # Fewest requests: sort by register, join adjacent ones into blocks of <= 125.
        order = sorted(f for f in fields if f >= 0)
        if not order:
            raise ValueError("bad meter model: no registers")
        blocks = []
        start = end = -1
        for f in order:
            r = f >> 8
            last = r + _WORDS[f >> 4 & 15]
            if start < 0 or r - end > _MERGE_GAP or last - start > 125:
                if start >= 0:
                    blocks.append((start, end - start))
                start = r
                end = last
            elif last > end:
                end = last
        blocks.append((start, end - start))
        self.blocks = blocks
        self.fields = fields
        # byte offset of each field in the buffer that holds all blocks, one after another
        self.offsets = [-1] * 12
        n = 0
        for s, c in blocks:
            for k in range(12):
                r = fields[k] >> 8
                if fields[k] >= 0 and s <= r < s + c:
                    self.offsets[k] = n + 2 * (r - s)
            n += 2 * c
        self.nbytes = n
        self._scratch = bytearray(8)

    def decode(self, buf, out):
        """Fill `out` (list of 12) from the bytes of all blocks read in order."""
        s = self._scratch
        for k in range(12):
            f = self.fields[k]
            o = self.offsets[k]
            if o < 0:
                out[k] = None
                continue
            t = f >> 4 & 15
            w = _WORDS[t]
            # registers are big-endian; with `lo` the words of a value come low first
            for j in range(w):
                src = o + 2 * (w - 1 - j if self.lo else j)
                s[2 * j] = buf[src]
                s[2 * j + 1] = buf[src + 1]
            if t == 0:
                x = struct.unpack_from(">f", s)[0]
                if x != x or x > 1e12 or x < -1e12:  # NaN, infinity: no value
                    out[k] = None
                    continue
            else:
                x = 0
                for j in range(2 * w):
                    x = x << 8 | s[j]
                if (t == 1 and x >= 0x80000000) or (t == 3 and x >= 0x8000):
                    x -= 1 << (16 * w)
            out[k] = _scale(x, (f & 15) - 8)
        return out


def _scale(x, e):
    """x * 10**e rounded to the nearest int (halves away from zero)."""
    if isinstance(x, float):
        x = x * 10 ** e if e >= 0 else x / 10 ** -e
        return int(x + 0.5) if x >= 0 else -int(0.5 - x)
    if e >= 0:
        return x * 10 ** e
    d = 10 ** -e
    return (x + d // 2) // d if x >= 0 else -((d // 2 - x) // d)


def plan(model, custom=""):
    """The Plan of a model name ("custom": the installer's `custom` text)."""
    return Plan(custom if model == "custom" else MODELS[model])
