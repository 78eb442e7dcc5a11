"""Download All as gzip: the web's /api/log/all.gz is the plain export compressed (read
back with CPython's gzip); in the VM the compressor's live heap stays flat whether the
log is 16 KB or 1 MB."""
import gzip
import json
import os
import subprocess

from vmrun import ROOT, micropython
from webclient import Client, charging, start_web_board

HEAP = r"""
import gc, json, sys
from firmware.core.gzip import gzip_chunks
LINE = "2026-12-03 13:14:15\tinfo\tcharging session end: 12.3 kWh, by card 04A1B2C3 #%d\n"
def log(n):
    for i in range(n):
        yield LINE % i
def peak(n):
    gc.collect()
    floor = gc.mem_alloc()
    top = 0
    size = 0
    for k, piece in enumerate(gzip_chunks(log(n))):
        size += len(piece)
        if k % 16 == 0:
            gc.collect()
            top = max(top, gc.mem_alloc() - floor)
    return top, size
small = peak(200)
large = peak(13000)
print(json.dumps({"small": small, "large": large}))
"""


def test_compressor_heap_is_flat_for_a_small_and_a_large_log(tmp_path):
    (tmp_path / "heap.py").write_text(HEAP)
    env = dict(os.environ, MICROPYPATH=ROOT)
    out = subprocess.run([micropython(), "heap.py"], cwd=str(tmp_path), env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout.strip().splitlines()[-1])
    (small_kb, small_out), (large_kb, large_out) = r["small"], r["large"]
    assert large_out > 30 * small_out  # it was a large log (about 1 MB in)
    # the same working set (window, hash table, one chunk's output) for both
    assert large_kb <= small_kb + 1024, r
    assert large_kb < 12 * 1024, r
    print("compressor live heap: %.1f KB (16 KB log), %.1f KB (1 MB log)" % (
        small_kb / 1024, large_kb / 1024))


def test_download_all_gzip_is_the_plain_export_compressed(start_board):
    w = start_web_board(start_board, plugged=True)
    c = Client(w).set_up()
    w.wait_for(charging, 30)
    w.wait_for(lambda w: "relay closed" in w.flash_log() or "relay closed" in
               c.get("/api/log/all")[1].decode(), 20)
    st, plain, _ = c.get("/api/log/all")
    st_gz, packed, h = c.get("/api/log/all.gz")
    assert st == st_gz == 200
    assert h["content-type"] == "application/gzip"
    assert h["content-disposition"].endswith('-log.txt.gz"')
    text = gzip.decompress(packed)
    assert "boot: reset cause" in plain.decode()
    assert text.startswith(plain)  # entries logged in between may follow
    assert len(packed) < len(plain) * 0.6, (len(packed), len(plain))
