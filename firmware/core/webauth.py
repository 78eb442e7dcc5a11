"""Passwords, tokens and login back-off for the web interface, as pure logic.

Passwords are stored as PBKDF2-HMAC-SHA256 (RFC 8018) with a random salt and an
iteration count kept beside the hash, so it can be raised later without locking anyone
out. MicroPython's hashlib has no pbkdf2_hmac and its hash objects cannot be copied,
so each iteration hashes the padded key again (four SHA-256 blocks); `steps()` is a
generator that yields every few iterations, so the web server's task lets the others
run while a login is checked (the charging control runs from its timer anyway).
"""
import hashlib

from micropython import const

from firmware.core.steps import finish

ITERATIONS = const(2000)  # a fraction of a second on a 240 MHz ESP32 (docs/web.md)
_CHUNK = const(16)  # iterations between two yields (~2 ms on the 64-bit VM; issue 21)
_FREE_TRIES = const(3)  # failed logins before the back-off starts
_MAX_WAIT_S = const(60)


def steps(password, salt, iterations):
    """Generator: PBKDF2-HMAC-SHA256(password, salt, iterations), 32 bytes, as the
    StopIteration value; yields between chunks of iterations."""
    key = password.encode() if isinstance(password, str) else password
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key + bytes(64 - len(key))
    ipad = bytes(b ^ 0x36 for b in key)
    opad = bytes(b ^ 0x5C for b in key)
    h = hashlib.sha256(ipad)
    h.update(salt)
    h.update(b"\0\0\0\1")  # block 1: the output is one SHA-256 long
    u = hashlib.sha256(opad + h.digest()).digest()
    acc = int.from_bytes(u, "big")
    for i in range(1, iterations):
        h = hashlib.sha256(ipad)
        h.update(u)
        h2 = hashlib.sha256(opad)
        h2.update(h.digest())
        u = h2.digest()
        acc ^= int.from_bytes(u, "big")
        if i % _CHUNK == 0:
            yield
    return acc.to_bytes(32, "big")


def pbkdf2(password, salt, iterations):
    """PBKDF2-HMAC-SHA256 in one go (tools, tests)."""
    return finish(steps(password, salt, iterations))


def same(a, b):
    """Compare two strings or byte strings in time independent of where they differ."""
    if isinstance(a, str):
        a = a.encode()
    if isinstance(b, str):
        b = b.encode()
    diff = len(a) ^ len(b)
    for i in range(len(a)):
        diff |= a[i] ^ b[i % len(b)] if b else 1
    return diff == 0


def wait_s(fails):
    """Seconds a client must wait before the next login after `fails` failures in a row."""
    if fails < _FREE_TRIES:
        return 0
    n = fails - _FREE_TRIES
    return _MAX_WAIT_S if n >= 6 else 1 << n


def password_problem(pw, user=None):
    """Why `pw` is not acceptable as a new password, or None."""
    if not isinstance(pw, str) or not 8 <= len(pw) <= 64:
        return "must be 8 to 64 characters"
    for c in pw:
        if c < " " or c == "\x7f":
            return "must not contain control characters"
    if user is not None and pw.lower() == user.lower():
        return "must not be the user name"
    return None
