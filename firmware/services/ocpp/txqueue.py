"""The backend's transaction queue on flash (StartTransaction, MeterValues and
StopTransaction of each session, in order), so that a power cut or an offline period
loses none of them. Used by backend.py; delivered by link.py."""
import json
import os
from binascii import crc32

from micropython import const

from firmware.services.platform import flashgate
from firmware.services.platform.config import load_json, save_json, write_json
from firmware.services.platform.log import ERROR

QUEUE = "txq/queue"  # in a directory of its own, see TxQueue
ACKS = "txq.ack"  # its acknowledgement record
# RAM for MeterValues queued while the relay is closed (no flash writes then): about 15
# samples; beyond it they are dropped as from a full queue. Transaction starts and stops
# are always kept.
_HELD_METER_BYTES = const(4096)


def _length(text):
    """Bytes of `text` in the file: offsets are bytes, and an idTag or a meter's text
    may hold characters of more than one byte (MicroPython's json writes them as they
    are)."""
    return len(text.encode())


class TxQueue:
    """Transaction messages on flash, delivered in order: an append-only file of
    CRC-checked JSON lines [local tx, action, payload] and an acknowledgement record
    {"n": lines done, "ids": {local tx: transactionId}} saved atomically. A line torn by
    a power cut fails its CRC and is skipped; nothing acknowledged is sent twice
    except the one in flight when the power went.

    The file lives in a directory of its own: on littlefs, with it next to the ack
    record, a power cut between save_json's two renames lost the whole queue file in
    about one cut in a hundred (host_tests/vm/test_txqueue_power_cut.py, decisions.md)."""

    def __init__(self, log, path=QUEUE, acks=ACKS, max_bytes=24576):
        self.log = log
        self.path = path
        self.acks = acks
        self.max_bytes = max_bytes
        # lines queued while the relay was closed: in RAM and in the flash journal,
        # written to the file when it opens (services/platform/flashgate.py)
        self.held = []
        self.held_bytes = 0
        flashgate.on_open.append(self._settle)
        try:  # (an existing one: EEXIST before anything is written)
            os.mkdir(path.rpartition("/")[0])
        except OSError:
            pass
        self.dropped = 0
        try:
            st = load_json(acks, None, log) or {}
        except ValueError as e:
            log.add(ERROR, "%s unreadable (%s): resending the queue" % (acks, e))
            st = {}
        self.done = st.get("n", 0)
        self.ids = st.get("ids", {})
        self.count = 0
        self.size = 0
        self._head = None
        self._off = 0  # file offset of the first line not acknowledged
        torn = False
        try:
            with open(path) as f:
                while True:
                    line = f.readline()
                    if not line:
                        break
                    if self.count == self.done:
                        self._off = self.size
                    self.size += _length(line)
                    if line[-1] != "\n":
                        torn = True
                    elif self._parse(line) is not None:
                        self.count += 1
        except OSError:
            pass
        self.flashed = self.size  # bytes of the file on flash; held lines come after
        if self.done >= self.count:  # all sent
            self._off = self.size
            if self.done > self.count:  # the file went after all was sent: say so first,
                self.done = self.count  # or the next messages would count as sent
                save_json(acks, {"n": self.done, "ids": self.ids})
        if torn:  # end the torn line, so the next record starts on a line of its own
            self._append("\n")
        if self.count and self.done >= self.count and flashgate.begin():
            # all delivered, the power cut between the last ack's record and the fresh
            # file: start afresh now, or the old lines would count against the size and
            # meter values be refused as from a full queue with nothing in it (with the
            # relay closed, _settle does it when it opens)
            try:
                self._restart()
            finally:
                flashgate.end()

    def _write(self, text):
        """Append to the file now (the relay is open: flashgate.begin() said so)."""
        try:
            f = open(self.path, "a")
        except OSError:  # a new queue: its directory first
            os.mkdir(self.path.rpartition("/")[0])
            f = open(self.path, "a")
        with f:
            f.write(text)
        try:
            os.sync()
        except AttributeError:  # the unix port
            pass
        self.flashed += _length(text)

    @staticmethod
    def _parse(line):
        try:
            if int(line[:8], 16) == crc32(line[9:-1].encode()):
                return json.loads(line[9:-1])
        except ValueError:
            pass
        return None

    def _append(self, line):
        if flashgate.begin():
            try:
                if self.held:  # the held ones first (the file keeps the order), and the
                    flashgate.settle(write_json)  # journal goes with them
                self._write(line)
            finally:
                flashgate.end()
        else:
            self.held.append(line)
            self.held_bytes += _length(line)
            flashgate.hold_line(self.path, self.flashed, line)
        self.size += _length(line)

    def _settle(self):
        """The relay opened (flashgate.settle): the held lines go to the file, and a
        queue delivered meanwhile starts afresh."""
        if self.held:
            self._write("".join(self.held))
            self.held = []
            self.held_bytes = 0
        if self.count and self.done >= self.count:
            self._restart()

    def _line(self, off):
        """The line at byte `off` of the queue (the file, then the held lines); ""
        past the end."""
        if off < self.flashed:
            with open(self.path) as f:
                f.seek(off)
                return f.readline()
        pos = self.flashed
        for line in self.held:
            if pos == off:
                return line
            pos += _length(line)
        return ""

    def pending(self):
        return self.count - self.done

    def put(self, ltx, action, payload):
        """Queue a message; False if the queue is full (meter values go first)."""
        text = json.dumps([ltx, action, payload])
        line = "%08x %s\n" % (crc32(text.encode()), text)
        meter = action == "MeterValues"
        n = _length(line)
        if self.size + n > (self.max_bytes if meter else 2 * self.max_bytes) or \
                (meter and self.held_bytes + n > _HELD_METER_BYTES):
            self.dropped += 1
            if self.dropped == 1 or not meter:
                self.log.add(ERROR, "backend: queue full, %s dropped" % action)
            return False
        try:
            self._append(line)
        except OSError as e:
            self.log.add(ERROR, "backend: %s not queued: %s" % (action, e))
            return False
        self.count += 1
        return True

    def head(self):
        """The oldest message not acknowledged: [local tx, action, payload] or None."""
        if self._head is None and self.done < self.count:
            while True:
                line = self._line(self._off)
                if not line:
                    return None
                rec = self._parse(line) if line[-1] == "\n" else None
                if rec is not None:
                    self._head = rec
                    break
                self._off += _length(line)  # a torn line: not a message
        return self._head

    def ack(self, ltx=None, tx_id=None, forget=False):
        """The head was delivered (or given up). Records the backend's transactionId of
        local transaction `ltx`, or forgets it once the transaction is over."""
        key = str(ltx)
        if tx_id is not None:
            self.ids[key] = tx_id
        elif forget and key in self.ids:
            del self.ids[key]
        self.done += 1
        self._head = None
        self._off += _length(self._line(self._off))
        save_json(self.acks, {"n": self.done, "ids": self.ids})
        if self.done >= self.count:  # all delivered
            if flashgate.begin():  # the relay open: a fresh file
                try:
                    self._restart()
                finally:
                    flashgate.end()
            elif self.held:  # closed: the held lines need no RAM any more
                self._forget_held()

    def _forget_held(self):
        """Every held line is delivered: forget them, so that a long session does not
        fill the RAM for held lines; the journal forgets them too (a cut record)."""
        n = len(self.held)
        self.held = []
        self.held_bytes = 0
        self.count -= n
        self.done -= n
        self.size = self._off = self.flashed
        flashgate.hold_cut(self.path, self.flashed)
        save_json(self.acks, {"n": self.done, "ids": self.ids})

    def _restart(self):
        try:
            os.remove(self.path)
        except OSError:
            pass
        self.count = self.done = self.size = self._off = self.flashed = 0
        self.held = []  # delivered, all of them
        self.held_bytes = 0
        save_json(self.acks, {"n": 0, "ids": self.ids})
