"""Ed25519 verification and SHA-512, on CPython and in the MicroPython VM. Vectors: RFC
8032 test 1 and signatures made by an independent implementation (the `cryptography`
package) over a SHA-256 digest, the way update bundles are signed."""
import pytest

from firmware.core import ed25519

RFC_PK = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
RFC_SIG = ("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bac"
           "c61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
PK = "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"
MSG = "05b3abf2579a5eb66403cd78be557fd860633a1fe2103c7642030defe32c657f"
SIG = ("f8e59b5462e663177e90787ed0c8fec0e0ef962da9eb9d22def0e45b64e4f918b93c2a5601d6707de90c"
       "56fa78fa0288f0fa7c7e67ef0bcbb218edf48bae510b")


def h(s):
    return bytes.fromhex(s)


def test_sha512_known_digests():
    assert ed25519.sha512(b"").hex() == (
        "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
        "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e")
    assert ed25519.sha512(b"abc").hex() == (
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
        "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f")
    two_blocks = ed25519.sha512(b"a" * 200)
    assert len(two_blocks) == 64 and two_blocks != ed25519.sha512(b"a" * 199)


def test_rfc8032_vector_1():
    assert ed25519.verify(h(RFC_PK), b"", h(RFC_SIG))


def test_signature_over_a_digest():
    assert ed25519.verify(h(PK), h(MSG), h(SIG))


@pytest.mark.parametrize("byte", [0, 5, 31, 32, 40, 63])
def test_a_changed_signature_byte_fails(byte):
    bad = bytearray(h(SIG))
    bad[byte] ^= 0x04
    assert not ed25519.verify(h(PK), h(MSG), bytes(bad))


def test_other_message_key_or_length_fails():
    assert not ed25519.verify(h(PK), h(MSG)[:-1] + b"\0", h(SIG))
    assert not ed25519.verify(h(RFC_PK), h(MSG), h(SIG))
    assert not ed25519.verify(h(PK), h(MSG), h(SIG)[:63])
    assert not ed25519.verify(b"\xff" * 32, h(MSG), h(SIG))  # not a point on the curve


def test_steps_yield_while_verifying():
    g = ed25519.steps(h(PK), h(MSG), h(SIG), every=8)
    n = 0
    try:
        while True:
            next(g)
            n += 1
    except StopIteration as e:
        assert e.value is True
    assert n >= 30  # ~253 bits in steps of 8
