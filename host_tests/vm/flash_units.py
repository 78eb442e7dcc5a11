"""The flash journal (drivers/journal.py) on a NOR flash model with the boards' rules,
and the gate that holds file writes while the relay is closed (services/platform/flashgate.py).
Run in the MicroPython VM (services import its time functions) by
host_tests/vm/test_flash_journal.py; plain functions, no fixtures (tools/vmtest.py)."""
import os
import time

import pytest

from firmware.drivers.journal import Journal
from firmware.services.platform import config, flashgate
from firmware.services.platform.log import Log

BLOCK = 4096
REPO = os.getcwd()  # the runner starts here (host_tests/vmrun.py); tests chdir away


class Nor:
    """NOR flash: erase sets a block to 0xFF; a program only clears bits, in aligned
    256-byte pages (the RP2040's flash_range_program), and never programs a byte twice."""

    def __init__(self, blocks=4):
        self.data = bytearray(b"\xff" * blocks * BLOCK)
        self.blocks = blocks
        self.erases = 0
        self.programs = 0
        self.fail_after = None  # programs until the power goes (then OSError)

    def readblocks(self, n, buf, off=0):
        pos = n * BLOCK + off
        buf[0:len(buf)] = self.data[pos:pos + len(buf)]

    def writeblocks(self, n, buf, off):
        assert off % 256 == 0 and len(buf) == 256
        if self.fail_after is not None:
            if self.fail_after == 0:
                raise OSError("power cut")
            self.fail_after -= 1
        pos = n * BLOCK + off
        for i in range(len(buf)):
            b = buf[i]
            old = self.data[pos + i]
            assert b == 0xFF or old == 0xFF, "a byte programmed twice"
            self.data[pos + i] = old & b
        self.programs += 1

    def ioctl(self, op, arg):
        if op == 4:
            return self.blocks
        if op == 5:
            return BLOCK
        if op == 6:
            self.data[arg * BLOCK:(arg + 1) * BLOCK] = b"\xff" * BLOCK
            self.erases += 1
        return 0


def test_records_survive_a_restart_and_erase_clears_what_was_used():
    dev = Nor()
    j = Journal(dev)
    payloads = [b"x" * n for n in (1, 255, 256, 300, 3000)]  # across pages and blocks
    for k, p in enumerate(payloads):
        assert j.append(0x41 + k, p)
    assert dev.erases == 0
    again = Journal(dev)
    assert [(k, bytes(p)) for k, p in again.records()] == \
        [(0x41 + k, p) for k, p in enumerate(payloads)]
    assert again.end == j.end and not again.dirty
    again.erase()
    assert dev.erases == (j.end + BLOCK - 1) // BLOCK
    assert dev.data == bytearray(b"\xff" * 4 * BLOCK) and not Journal(dev).used()


def test_a_record_torn_by_a_power_cut_ends_the_journal_and_all_is_erased():
    dev = Nor()
    j = Journal(dev)
    assert j.append(0x53, b"first")
    dev.fail_after = 1  # the payload's page, then the power goes before the header
    with pytest.raises(OSError):
        j.append(0x53, b"second" * 10)
    dev.fail_after = None
    after = Journal(dev)
    assert [bytes(p) for _, p in after.records()] == [b"first"]
    assert after.dirty  # the orphan payload: the next append would program over it
    after.erase()
    assert dev.erases == dev.blocks and not Journal(dev).used()


def test_a_full_journal_refuses_and_keeps_what_it_has():
    dev = Nor(blocks=1)
    j = Journal(dev)
    n = 0
    while j.append(0x53, b"y" * 500):
        n += 1
    assert n == BLOCK // 508
    assert len(list(Journal(dev).records())) == n


class Relay:
    def __init__(self):
        self.closed = False


class Charger:
    def __init__(self):
        self.flash_busy = False


class Hw:
    def __init__(self):
        self.relay = Relay()


class Control:
    def __init__(self):
        self.hw = Hw()
        self.charger = Charger()


def gate():
    """A fresh gate on a fake control and a NOR journal, in a folder of its own."""
    d = "/tmp/flashgate-%d" % time.ticks_us()
    os.mkdir(d)
    os.chdir(d)
    ctl = Control()
    dev = Nor()
    flashgate.control = ctl
    flashgate.journal = Journal(dev)
    flashgate.log = Log(size=8)
    flashgate.held.clear()
    flashgate.on_open[:] = []
    return ctl, dev, d


def read(d, name):
    with open(d + "/" + name) as f:
        return f.read()


def write(d, name, text):
    with open(d + "/" + name, "w") as f:
        f.write(text)


class Sparse:
    """A flash of `blocks` blocks that keeps only those written (a whole storage area
    would not fit the VM's heap)."""

    def __init__(self, blocks):
        self.blocks = blocks
        self.data = {}

    def _block(self, n):
        if n not in self.data:
            self.data[n] = bytearray(b"\xff" * BLOCK)
        return self.data[n]

    def readblocks(self, n, buf, off=0):
        buf[0:len(buf)] = self._block(n)[off:off + len(buf)]

    def writeblocks(self, n, buf, off=0):
        self._block(n)[off:off + len(buf)] = buf

    def ioctl(self, op, arg):
        if op == 6:
            self.data.pop(arg, None)
        return self.blocks if op == 4 else BLOCK if op == 5 else 0


def test_the_pico_w_journal_lies_beyond_our_file_system_not_a_stock_one():
    """boards/pico_w.py's journal is the storage's last 128 KB: beside the file system the
    image's _boot.py mounts (tools/frozen/rp2), inside the one a stock image mounts on all
    the storage (a development install: RAM only). statvfs from littlefs itself."""
    import vfs

    from firmware.boards import pico_w
    from firmware.drivers.journal import beside_file_system

    kind, start, size = pico_w.JOURNAL
    storage = 868352  # MICROPY_HW_FLASH_STORAGE_BYTES of RPI_PICO_W
    assert kind == "rp2" and size == 131072 and start + size == storage
    assert start % BLOCK == 0  # rp2.Flash(start=) wants whole blocks
    with open(REPO + "/tools/frozen/rp2/_boot.py") as f:
        assert "JOURNAL_BYTES = %d" % size in f.read()
    for fs_bytes, beside in ((storage - size, True), (storage, False)):
        dev = Sparse(fs_bytes // BLOCK)
        vfs.VfsLfs2.mkfs(dev, progsize=256)
        statvfs = vfs.VfsLfs2(dev, progsize=256).statvfs("/")
        assert statvfs[1] * statvfs[2] == fs_bytes
        assert beside_file_system(statvfs, start) is beside


def test_saves_wait_while_the_relay_is_closed_and_land_when_it_opens():
    ctl, dev, d = gate()
    config.save_json("a.json", {"v": 1})
    assert "a.json" in os.listdir(d) and dev.programs == 0  # open: written at once
    ctl.hw.relay.closed = True
    config.save_json("a.json", {"v": 2})
    config.save_json("a.json", {"v": 3})
    assert config.load_json("a.json")["v"] == 3  # what was saved, while it waits
    assert config._read("a.json")["v"] == 1 and dev.programs > 0 and dev.erases == 0
    assert not ctl.charger.flash_busy
    assert flashgate.settle(config.write_json) is False  # still closed
    ctl.hw.relay.closed = False
    assert flashgate.settle(config.write_json)
    assert config._read("a.json")["v"] == 3 and not flashgate.held
    assert dev.erases >= 1 and not flashgate.journal.used() and not ctl.charger.flash_busy


def test_a_power_cut_while_closed_is_recovered_from_the_journal():
    ctl, dev, d = gate()
    config.save_json("a.json", {"v": 1})
    write(d, "q", "line0\n")
    ctl.hw.relay.closed = True
    config.save_json("a.json", {"v": 2})
    flashgate.hold_line("q", 6, "line1\n")
    flashgate.hold_line("q", 6, "line2\n")
    # the power goes; at boot (relay open) the journal is applied
    flashgate.held.clear()
    ctl.hw.relay.closed = False
    flashgate.journal = Journal(dev)
    assert flashgate.recover(config.write_json) == 3
    assert config._read("a.json") == {"v": 2}
    assert read(d, "q") == "line0\nline1\nline2\n"
    assert not Journal(dev).used()
    # applying it again (a cut during settle) gives the same files
    write(d, "q", "line0\nline1\n")
    j = Journal(dev)
    j.append(0x41, b"q\n6\nline1\n")
    j.append(0x41, b"q\n6\nline2\n")
    flashgate.journal = j
    flashgate.recover(config.write_json)
    assert read(d, "q") == "line0\nline1\nline2\n"


def test_a_write_keeps_the_relay_from_closing_until_it_ends():
    ctl, _, _ = gate()
    assert flashgate.begin()
    assert ctl.charger.flash_busy
    assert flashgate.begin()  # nested (the queue's acknowledgement inside its write)
    flashgate.end()
    assert ctl.charger.flash_busy
    flashgate.end()
    assert not ctl.charger.flash_busy
    ctl.hw.relay.closed = True
    assert not flashgate.begin() and not ctl.charger.flash_busy


def test_waiting_for_the_relay_to_open_leaves_the_event_loop_to_the_others():
    import asyncio
    ctl, _, _ = gate()
    ctl.hw.relay.closed = True
    ran = [0]
    got = []

    async def other():  # the web server, the backend, the meter...
        while not got:
            ran[0] += 1
            await asyncio.sleep_ms(0)

    async def opener():  # the tick opens the relay after a while
        while ran[0] < 20:
            await asyncio.sleep_ms(0)
        ctl.hw.relay.closed = False

    async def main(ms, open_it):
        t = asyncio.create_task(other())
        if open_it:
            asyncio.create_task(opener())
        got.append(await flashgate.wait_open(ms, poll_ms=1))
        await t

    asyncio.run(main(5000, True))
    assert got == [True] and ran[0] >= 20 and not ctl.charger.flash_busy
    ctl.hw.relay.closed = True  # it stays closed: False after the time, the others ran
    got.clear()
    ran[0] = 0
    asyncio.run(main(30, False))
    assert got == [False] and ran[0] > 1 and not ctl.charger.flash_busy


def test_lines_delivered_while_closed_are_cut_from_the_journal():
    ctl, dev, d = gate()
    write(d, "q", "line0\n")
    ctl.hw.relay.closed = True
    flashgate.hold_line("q", 6, "sent1\n")
    flashgate.hold_cut("q", 6)  # delivered: the queue forgot them
    flashgate.hold_line("q", 6, "line2\n")
    flashgate.held.clear()  # the power goes
    ctl.hw.relay.closed = False
    flashgate.journal = Journal(dev)
    assert flashgate.recover(config.write_json) == 3
    assert read(d, "q") == "line0\nline2\n"


def test_a_line_of_several_byte_characters_is_recovered_at_its_byte_offset():
    ctl, dev, d = gate()
    write(d, "q", "\u00e90\nX")  # 4 bytes of lines (é is 2), then a line torn by a cut
    ctl.hw.relay.closed = True
    flashgate.hold_line("q", 4, "\u00fc1\n")
    flashgate.held.clear()  # the power goes
    ctl.hw.relay.closed = False
    flashgate.journal = Journal(dev)
    assert flashgate.recover(config.write_json) == 1
    assert read(d, "q") == "\u00e90\n\u00fc1\n"
