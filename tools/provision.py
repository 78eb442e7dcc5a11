#!/usr/bin/env python3
"""Provision a charger: serial number, hotspot and recovery passwords, board type and
the update key, written to prov.json on the device (kept by a factory reset), and the
configuration label printed for the envelope.

    python tools/provision.py --port /dev/ttyUSB0 --serial WB2611000123 --board esp32_devkit \
        --update-key keys/release.pub
    python tools/provision.py --state vboard-state --serial WB0000000001 --board virtual

Passwords are generated (12 characters for the hotspot, 16 for recovery, from an
alphabet without look-alike characters) unless given. A device that is already
provisioned is left alone unless --force.
"""
import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from firmware.core import record as firmware_record  # noqa: E402 - the format, once

ALPHABET = "abcdefghijkmnpqrstuvwxyzACDEFGHJKLMNPQRSTUVWXYZ23456789"  # no l1I0O
HOTSPOT_ADDRESS = "http://192.168.2.1"


def boards():
    d = os.path.join(ROOT, "firmware", "boards")
    return sorted(f[:-3] for f in os.listdir(d) if f.endswith(".py") and f != "__init__.py")


def password(n):
    return "".join(secrets.choice(ALPHABET) for _ in range(n))


def record(obj):
    """The text config.save_json writes (firmware/core/record.py)."""
    body = json.dumps(obj)
    return firmware_record.header(body) + body + firmware_record.TAIL


def provisioning(serial, board, hotspot=None, recovery=None, update_key=None):
    if not serial or not serial.isalnum() or len(serial) > 32:
        raise ValueError("serial: 1 to 32 letters and digits")
    if board not in boards():
        raise ValueError("board: one of " + ", ".join(boards()))
    hotspot = hotspot or password(12)
    if not 8 <= len(hotspot) <= 63:
        raise ValueError("hotspot password: 8 to 63 characters (WPA2)")
    p = {"serial": serial, "board": board, "hotspot_password": hotspot,
         "recovery_password": recovery or password(16)}
    if update_key:
        key = bytes.fromhex(update_key.strip())
        if len(key) != 32:
            raise ValueError("update key: 32 bytes (64 hex digits), see tools/bundle.py keygen")
        p["update_key"] = key.hex()
    return p


def label(p):
    rows = [("Serial number / hotspot name", p["serial"]),
            ("Hotspot password", p["hotspot_password"]),
            ("Address in the hotspot", HOTSPOT_ADDRESS),
            ("Web login", "admin / " + p["serial"]),
            ("Recovery password", p["recovery_password"])]
    width = max(len(a) + len(b) for a, b in rows) + 6
    line = "+" + "-" * width + "+"
    out = [line, "| " + "CONFIGURATION LABEL - keep it safe".ljust(width - 1) + "|", line]
    for a, b in rows:
        out.append("| " + (a + ": ").ljust(width - 2 - len(b)) + b + " |")
    out.append(line)
    return "\n".join(out)


def save_state(state, p, force=False):
    """Write the provisioning `p` into a virtual board's state directory (its flash);
    FileExistsError (with the path) if it is provisioned already and not `force`."""
    os.makedirs(state, exist_ok=True)
    path = os.path.join(state, "prov.json")
    if os.path.exists(path) and not force:
        raise FileExistsError(path)
    with open(path + ".tmp", "w") as f:
        f.write(record(p))
    os.replace(path + ".tmp", path)


def mpremote():
    exe = os.path.join(os.path.dirname(sys.executable), "mpremote")
    return exe if os.path.exists(exe) else "mpremote"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", help="the device's serial port (mpremote)")
    where.add_argument("--state", help="a virtual board's state directory")
    ap.add_argument("--serial", required=True)
    ap.add_argument("--board", required=True, help=", ".join(boards()))
    ap.add_argument("--hotspot-password")
    ap.add_argument("--recovery-password")
    ap.add_argument("--update-key", help="public key file from tools/bundle.py keygen")
    ap.add_argument("--force", action="store_true", help="replace an existing provisioning")
    args = ap.parse_args(argv)
    key = None
    if args.update_key:
        with open(args.update_key) as f:
            key = f.read()
    try:
        p = provisioning(args.serial, args.board, args.hotspot_password,
                         args.recovery_password, key)
    except ValueError as e:
        sys.exit("provision: " + str(e))
    if args.state:
        try:
            save_state(args.state, p, args.force)
        except FileExistsError as e:
            sys.exit("provision: %s exists (use --force to replace it)" % e)
    else:
        base = [mpremote(), "connect", args.port]
        if not args.force and subprocess.run(base + ["cat", ":prov.json"],
                                             capture_output=True).returncode == 0:
            sys.exit("provision: the device is already provisioned (use --force)")
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            f.write(record(p))
        try:
            subprocess.run(base + ["cp", f.name, ":prov.json"], check=True)
        finally:
            os.unlink(f.name)
    print(label(p))
    if not key:
        print("no --update-key: a development device (accepts unsigned updates)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
