"""Ed25519 signature verification (RFC 8032) in plain Python: MicroPython has SHA-256
but no public-key crypto. Used only while an update bundle is checked, then unloaded.

The arithmetic is slow on a microcontroller (seconds), so `steps()` is a generator
that yields every few bits: the updater runs it as a task without stalling the others.
SHA-512 (which Ed25519 needs and MicroPython lacks) is here too; its constants are
computed from the primes, as the standard defines them, rather than typed in. The
derived constants are computed on first use, a piece per step (`_constants`): at import
they would hold the event loop for a long while on a board.
"""
from firmware.core.steps import finish

_P = (1 << 255) - 19
_L = (1 << 252) + 27742317777372353535851937790883648493
_M = (1 << 64) - 1
_D = _I = _K = _H = _B = None  # set by _constants()


def _root(n, k):
    """floor(n ** (1/k)) for big ints (k = 2 or 3)."""
    b = 0
    while n >> b:  # MicroPython's int has no bit_length()
        b += 1
    x = 1 << ((b + k - 1) // k)
    while True:
        y = ((k - 1) * x + n // x ** (k - 1)) // k
        if y >= x:
            return x
        x = y


def _primes(n):
    out = []
    c = 2
    while len(out) < n:
        if all(c % p for p in out):
            out.append(c)
        c += 1
    return out


def _constants():
    """Generator: computes the curve's and SHA-512's constants once, yielding between
    pieces."""
    global _D, _I, _K, _H, _B
    if _B is not None:
        return
    _D = -121665 * pow(121666, _P - 2, _P) % _P
    yield
    _I = pow(2, (_P - 1) // 4, _P)  # a square root of -1
    yield
    primes = _primes(80)
    k = []
    for p in primes:
        k.append(_root(p << 192, 3) & _M)  # cube roots' fractions, 64 bits each
        if len(k) % 16 == 0:
            yield
    _K = k
    _H = [_root(p << 128, 2) & _M for p in primes[:8]]  # square roots' fractions
    yield
    by = 4 * pow(5, _P - 2, _P) % _P
    yield
    _B = _point(by.to_bytes(32, "little"))


def _ready():
    for _ in _constants():
        pass


def _rotr(x, n):
    return (x >> n | x << (64 - n)) & _M


def sha512(msg):
    if _B is None:
        _ready()
    msg = bytes(msg)
    n = len(msg)
    msg += b"\x80" + b"\0" * ((111 - n) % 128) + (n * 8).to_bytes(16, "big")
    h = list(_H)
    w = [0] * 80
    for off in range(0, len(msg), 128):
        for t in range(16):
            w[t] = int.from_bytes(msg[off + 8 * t:off + 8 * t + 8], "big")
        for t in range(16, 80):
            a = w[t - 15]
            b = w[t - 2]
            s0 = _rotr(a, 1) ^ _rotr(a, 8) ^ (a >> 7)
            s1 = _rotr(b, 19) ^ _rotr(b, 61) ^ (b >> 6)
            w[t] = (w[t - 16] + s0 + w[t - 7] + s1) & _M
        a, b, c, d, e, f, g, hh = h
        for t in range(80):
            t1 = (hh + (_rotr(e, 14) ^ _rotr(e, 18) ^ _rotr(e, 41)) + ((e & f) ^ (~e & g))
                  + _K[t] + w[t]) & _M
            t2 = ((_rotr(a, 28) ^ _rotr(a, 34) ^ _rotr(a, 39)) + ((a & b) ^ (a & c) ^ (b & c))) & _M
            hh = g
            g = f
            f = e
            e = (d + t1) & _M
            d = c
            c = b
            b = a
            a = (t1 + t2) & _M
        for i, v in enumerate((a, b, c, d, e, f, g, hh)):
            h[i] = (h[i] + v) & _M
    return b"".join(v.to_bytes(8, "big") for v in h)


def _add(p, q):
    """Point addition in extended coordinates (x, y, z, t) on the twisted Edwards curve."""
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = (y1 - x1) * (y2 - x2) % _P
    b = (y1 + x1) * (y2 + x2) % _P
    c = 2 * t1 * t2 * _D % _P
    d = 2 * z1 * z2 % _P
    e = b - a
    f = d - c
    g = d + c
    h = b + a
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _point(s):
    """Decode a 32-byte point; ValueError if it is not on the curve."""
    if len(s) != 32:
        raise ValueError("bad point")
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    if y >= _P:
        raise ValueError("bad point")
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * _I % _P
    if (x * x - x2) % _P or (x == 0 and sign):
        raise ValueError("bad point")
    if x & 1 != sign:
        x = _P - x
    return (x, y, 1, x * y % _P)


def steps(public_key, message, signature, every=8):
    """Verify; a generator that yields every `every` bits and returns True or False."""
    if len(signature) != 64:
        return False
    yield from _constants()
    try:
        a = _point(bytes(public_key))
        yield
        r = _point(bytes(signature[:32]))
        yield
    except ValueError:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= _L:
        return False
    k = int.from_bytes(sha512(bytes(signature[:32]) + bytes(public_key) + bytes(message)),
                       "little") % _L
    yield
    na = ((_P - a[0]) % _P, a[1], a[2], (_P - a[3]) % _P)  # -A
    both = _add(_B, na)
    q = (0, 1, 1, 0)  # [s]B + [k](-A), both scalars at once (Shamir's trick)
    for i in range(252, -1, -1):  # s, k < L < 2**253
        q = _add(q, q)
        bs = s >> i & 1
        bk = k >> i & 1
        if bs and bk:
            q = _add(q, both)
        elif bs:
            q = _add(q, _B)
        elif bk:
            q = _add(q, na)
        if i % every == 0:
            yield
    # equal to R in projective coordinates
    return (q[0] - r[0] * q[2]) % _P == 0 and (q[1] - r[1] * q[2]) % _P == 0


def verify(public_key, message, signature):
    """True if `signature` is `public_key`'s Ed25519 signature of `message`."""
    return bool(finish(steps(public_key, message, signature)))
