"""core/gzip: what it writes is a gzip file that a standard decompressor reads back
byte for byte (CPython's gzip here, MicroPython's deflate in the VM), smaller than its
input for log text, from chunks of any size."""
import random

from firmware.core.gzip import gzip_chunks


def gunzip(data):
    try:
        import gzip
        return gzip.decompress(data)
    except ImportError:  # MicroPython: its deflate decompresses
        import deflate
        import io
        return deflate.DeflateIO(io.BytesIO(data), deflate.GZIP).read()


def log_text(n):
    r = random.Random(7) if hasattr(random, "Random") else random
    if not hasattr(random, "Random"):
        random.seed(7)
    kinds = ("info", "fault", "session", "error")
    lines = []
    for i in range(n):
        lines.append("2026-12-03 13:%02d:%02d %s charging session end: %d.%d kWh, by card %08X\n"
                     % (i // 60 % 60, i % 60, kinds[r.getrandbits(2)], r.getrandbits(5),
                        r.getrandbits(3), r.getrandbits(32)))
    return "".join(lines)


def pack(chunks):
    return b"".join(gzip_chunks(chunks))


def test_empty_input():
    assert gunzip(pack([])) == b""


def test_log_text_round_trips_and_shrinks():
    text = log_text(400)
    data = pack(text[i:i + 512] for i in range(0, len(text), 512))
    assert gunzip(data) == text.encode()
    assert len(data) < len(text) * 6 // 10, (len(data), len(text))


def test_any_chunking_and_binary_and_long_runs():
    blob = bytes(range(256)) * 3 + b"a" * 1000 + b"abcabcabd" * 50 + bytes(300)
    for size in (1, 2, 3, 7, 300, 5000):
        assert gunzip(pack([blob[i:i + size] for i in range(0, len(blob), size)])) == blob


def test_text_chunks_are_utf8():
    assert gunzip(pack(["Grüße ", "°C", ""])) == "Grüße °C".encode()
