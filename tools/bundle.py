#!/usr/bin/env python3
"""Build a software update bundle from this repository (see docs/update.md).

    python tools/bundle.py --version 1.2.0 --key keys/release.key [--board pico-w ...]
    python tools/bundle.py --version 1.2.0-dev --unsigned       # development devices only
    python tools/bundle.py keygen keys/release                  # release.key + release.pub
    python tools/bundle.py release build/wallbox-1.2.0.wbx --version 1.2.0 \
        --notes-file NOTES.txt --key keys/release.key   # build/latest.wbr for update.url

A bundle is MAGIC, the manifest's length (u32 little-endian), the manifest (JSON: format,
version, boards, files [[path, size, sha256]], size and sha256 of the payload), a
64-byte Ed25519 signature of SHA-256(manifest) (zeros when unsigned), then the files
in manifest order. The files are the compiled firmware (.mpy) and the libraries and web
assets under lib/ and www/ of the build; boot.py and main.py are never in a bundle.
"""
import argparse
import hashlib
import json
import os
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from tools.build import OUT, build  # noqa: E402

MAGIC = b"WBX1"
RELEASE = b"WBR1"
TOPS = ("firmware/", "lib/", "www/")


def collect(out=OUT):
    """{relative path: bytes} of what goes into a bundle from a build directory."""
    files = {}
    for d, _, names in os.walk(out):
        for n in sorted(names):
            rel = os.path.relpath(os.path.join(d, n), out).replace(os.sep, "/")
            if rel.startswith(TOPS):
                with open(os.path.join(d, n), "rb") as f:
                    files[rel] = f.read()
    return dict(sorted(files.items()))


def private_key(raw):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    return Ed25519PrivateKey.from_private_bytes(raw)


def public_bytes(key):
    from cryptography.hazmat.primitives import serialization as s
    return key.public_key().public_bytes(s.Encoding.Raw, s.PublicFormat.Raw)


def make(files, version, boards=(), key=None):
    """The bundle bytes for `files` ({path: bytes}); `key`: 32 raw private-key bytes."""
    payload = b"".join(files.values())
    manifest = json.dumps({
        "format": 1, "version": version, "boards": list(boards),
        "files": [[p, len(b), hashlib.sha256(b).hexdigest()] for p, b in files.items()],
        "size": len(payload), "sha256": hashlib.sha256(payload).hexdigest(),
    }, separators=(",", ":")).encode()
    sig = bytes(64) if key is None else private_key(key).sign(
        hashlib.sha256(manifest).digest())
    return MAGIC + struct.pack("<I", len(manifest)) + manifest + sig + payload


def make_release(version, bundle, size, notes="", boards=(), key=None):
    """A release record (firmware/services/net/release.py): a bundle's head without files, its
    manifest naming the version, the notes and the bundle's address (relative to the
    record's) and size; signed like a bundle."""
    manifest = json.dumps({"format": 1, "version": version, "boards": list(boards),
                           "notes": notes, "bundle": bundle, "size": size},
                          separators=(",", ":")).encode()
    sig = bytes(64) if key is None else private_key(key).sign(
        hashlib.sha256(manifest).digest())
    return RELEASE + struct.pack("<I", len(manifest)) + manifest + sig


def read_key(path):
    with open(path) as f:
        return bytes.fromhex(f.read().strip())


def keygen(prefix):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives import serialization as s
    k = Ed25519PrivateKey.generate()
    raw = k.private_bytes(s.Encoding.Raw, s.PrivateFormat.Raw, s.NoEncryption())
    fd = os.open(prefix + ".key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(raw.hex() + "\n")
    with open(prefix + ".pub", "w") as f:
        f.write(public_bytes(k).hex() + "\n")
    return prefix + ".key", prefix + ".pub"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["keygen"]:
        if len(argv) != 2:
            sys.exit("usage: tools/bundle.py keygen PREFIX")
        for p in keygen(argv[1]):
            print("wrote", p)
        print("keep the .key secret and out of git; provision the .pub onto devices")
        return 0
    if argv[:1] == ["release"]:
        return release(argv[1:])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--version", required=True, help="e.g. 1.2.0 (compared numerically)")
    ap.add_argument("--key", help="private key file (hex) from `keygen`")
    ap.add_argument("--unsigned", action="store_true",
                    help="integrity only: accepted by development devices (no key) only")
    ap.add_argument("--board", action="append", default=[],
                    help="restrict to a board NAME (repeatable); default: every board")
    ap.add_argument("--out", help="output file (default build/wallbox-VERSION.wbx)")
    args = ap.parse_args(argv)
    if bool(args.key) == args.unsigned:
        sys.exit("give either --key FILE or --unsigned")
    build()
    files = collect()
    data = make(files, args.version, args.board, read_key(args.key) if args.key else None)
    out = args.out or os.path.join(ROOT, "build", "wallbox-%s.wbx" % args.version)
    with open(out, "wb") as f:
        f.write(data)
    print("%s: %d files, %.1f KB, %s" % (os.path.relpath(out), len(files), len(data) / 1024,
                                         "UNSIGNED (development)" if args.unsigned else "signed"))
    return 0


def release(argv):
    ap = argparse.ArgumentParser(description="a signed release record for update.url")
    ap.add_argument("bundle", help="the .wbx file, published beside the record")
    ap.add_argument("--version", required=True)
    ap.add_argument("--notes-file", help="text shown on the System page")
    ap.add_argument("--key", help="private key file (hex); without: unsigned (development)")
    ap.add_argument("--board", action="append", default=[])
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "latest.wbr"))
    args = ap.parse_args(argv)
    notes = ""
    if args.notes_file:
        with open(args.notes_file) as f:
            notes = f.read()
    data = make_release(args.version, os.path.basename(args.bundle),
                        os.path.getsize(args.bundle), notes, args.board,
                        read_key(args.key) if args.key else None)
    with open(args.out, "wb") as f:
        f.write(data)
    print("%s: release %s, %s" % (args.out, args.version, "signed" if args.key else "UNSIGNED"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
