"""The RFID reader's field, as a base class of world.World: cards presented, removed,
tapped or colliding in its two slots, noise and reader faults, sent to the VM's
reader model (vm/rc522_sim.py) as link records; the firmware's RFID telemetry."""
import time

from tools.vboard.link import vlink


class RfidField:
    RFID_NOISE = {"none": vlink.NOISE_NONE, "crc": vlink.NOISE_CRC,
                  "partial": vlink.NOISE_PARTIAL}
    RFID_READER = {"ok": vlink.READER_OK, "dead": vlink.READER_DEAD,
                   "garbage": vlink.READER_GARBAGE}

    @staticmethod
    def _uid(uid):
        if not isinstance(uid, str) or len(uid) not in (8, 14, 20):
            raise ValueError("uid must be 4, 7 or 10 bytes in hex")
        try:
            return bytes.fromhex(uid).hex().upper()
        except ValueError:
            raise ValueError("uid must be 4, 7 or 10 bytes in hex") from None

    def _field(self, slot, uid, update=True):
        """Put a card (UID hex, or None) into a slot of the reader's field."""
        self.card_field[slot] = uid
        self._card_serial += 1
        raw = bytes.fromhex(uid) if uid else b""
        for i, b in enumerate(raw):
            self._rfid_t[(vlink.CARD_BYTE, slot * 16 + i)] = b
        self._rfid_t.pop((vlink.CARD_SET, slot), None)  # after the bytes, in dict order
        self._rfid_t[(vlink.CARD_SET, slot)] = len(raw) | self._card_serial << 8
        if update:
            self._update_pins()

    def present_card(self, uid, slot=0):
        """Hold a card (4, 7 or 10 bytes of hex) in front of the reader until removed."""
        uid = self._uid(uid)
        if slot not in (0, 1):
            raise ValueError("slot must be 0 or 1")
        with self.lock:
            self._card_off = [c for c in self._card_off if c[0] != slot]
            self._field(slot, uid)

    def remove_card(self, slot=None):
        """Take the card in `slot` (None: every card) away from the reader."""
        with self.lock:
            for s in (0, 1) if slot is None else (slot,):
                if self.card_field[s] is not None:
                    self._field(s, None)

    def tap_card(self, uid, ms=600):
        """Hold a card in front of the reader for `ms`, then take it away."""
        if not 0 < ms <= 600000:
            raise ValueError("ms must be between 1 and 600000")
        self.present_card(uid)
        with self.lock:
            self._card_off.append((0, self._card_serial, time.monotonic() + ms / 1000))

    def collide(self, uid_a, uid_b):
        """Two cards in the field at once (entering together, in one burst of records)."""
        uid_a, uid_b = self._uid(uid_a), self._uid(uid_b)
        with self.lock:
            self._card_off = []
            self._field(0, uid_a, False)
            self._field(1, uid_b)

    def set_rfid(self, noise=None, reader=None):
        """Disturbances: noise 'none' / 'crc' (bad BCC and CRC) / 'partial' (frames cut
        short); reader 'ok' / 'dead' (MISO reads 0) / 'garbage' (random MISO)."""
        if noise is not None and noise not in self.RFID_NOISE:
            raise ValueError("noise must be one of " + ", ".join(self.RFID_NOISE))
        if reader is not None and reader not in self.RFID_READER:
            raise ValueError("reader must be one of " + ", ".join(self.RFID_READER))
        with self.lock:
            if noise is not None:
                self.rfid_noise = noise
                self._rfid_t[(vlink.RFID_NOISE, 0)] = self.RFID_NOISE[noise]
            if reader is not None:
                self.rfid_reader = reader
                self._rfid_t[(vlink.RFID_READER, 0)] = self.RFID_READER[reader]
            self._update_pins()

    def brownout_reader(self):
        """The reader chip resets itself (registers back to their reset values)."""
        with self.lock:
            if self._conn is not None:
                self._write(vlink.RFID_BROWNOUT, 0, 0)

    def rfid_action(self, action, uid=None, uid2=None, ms=600, slot=None, noise=None,
                    reader=None):
        """The API's one entry point: tap, present, remove, collide, disturb, brownout."""
        if action == "tap":
            self.tap_card(uid, int(ms))
        elif action == "present":
            self.present_card(uid, slot or 0)
        elif action == "remove":
            self.remove_card(slot)
        elif action == "collide":
            self.collide(uid, uid2)
        elif action == "disturb":
            self.set_rfid(noise, reader)
        elif action == "brownout":
            self.brownout_reader()
        else:
            raise ValueError("action must be tap, present, remove, collide, disturb or brownout")

    def rfid_state(self):
        """The firmware's RFID view: reader (None/'none'/'ok'/'failed'), whitelist size,
        longest reader poll stall (us), master card window open, programming step."""
        r = self.rfid
        return {"reader": None if r[vlink.R_READER] is None
                else ("none", "ok", "failed")[r[vlink.R_READER]],
                "cards": r[vlink.R_CARDS], "poll_us_max": r[vlink.R_BUSY_US],
                "enrolling": None if r[vlink.R_ENROLLING] is None
                else bool(r[vlink.R_ENROLLING]),
                "programming": r[vlink.R_STEP]}
