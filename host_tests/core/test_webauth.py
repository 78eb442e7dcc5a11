"""Password hashing, comparison, back-off and the password rules of the web interface
(core/webauth.py), on CPython and in the MicroPython VM."""
import pytest

from firmware.core import webauth

# PBKDF2-HMAC-SHA256 reference values (RFC 7914 section 11 and the common test set);
# CPython's hashlib.pbkdf2_hmac gives the same (test_webauth_props.py compares more).
VECTORS = [
    ("password", b"salt", 1, "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b"),
    ("password", b"salt", 2, "ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43"),
    ("password", b"salt", 4096, "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a"),
    ("passwd", b"salt", 1, "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"),
    ("x" * 100, b"salt", 3, "59bfa49750dd5462ce38370a1e7abe0736ff334cf1c2f0d84f23a03435d660d1"),
]


def hexs(raw):
    return "".join("%02x" % b for b in raw)


@pytest.mark.parametrize("pw, salt, n, expect", VECTORS)
def test_pbkdf2_matches_the_reference_values(pw, salt, n, expect):
    assert hexs(webauth.pbkdf2(pw, salt, n)) == expect


def test_the_generator_yields_while_it_works_and_gives_the_same_key():
    g = webauth.steps("password", b"salt", 4096)
    yields = 0
    try:
        while True:
            next(g)
            yields += 1
    except StopIteration as e:
        key = e.value
    assert yields >= 4096 // 100  # the web task gets the loop back regularly
    assert hexs(key) == VECTORS[2][3]


def test_same_compares_whole_values():
    assert webauth.same("abc", "abc")
    assert webauth.same(b"abc", "abc")
    assert not webauth.same("abc", "abd")
    assert not webauth.same("abc", "ab")
    assert not webauth.same("ab", "abc")
    assert not webauth.same("", "a")
    assert webauth.same("", "")


def test_backoff_starts_after_three_failures_and_is_capped():
    waits = [webauth.wait_s(n) for n in range(12)]
    assert waits[:3] == [0, 0, 0]
    assert waits[3:9] == [1, 2, 4, 8, 16, 32]
    assert waits[9:] == [60, 60, 60]


@pytest.mark.parametrize("pw, reason", [
    ("short", "8 to 64"),
    ("x" * 65, "8 to 64"),
    (12345678, "8 to 64"),
    ("abc\ndefgh", "control"),
    ("Admin123", None),
    ("admin-admin", None),
])
def test_password_rules(pw, reason):
    got = webauth.password_problem(pw, "admin")
    if reason is None:
        assert got is None
    else:
        assert reason in got


def test_the_user_name_is_no_password():
    assert "user name" in webauth.password_problem("administrator", "Administrator")
