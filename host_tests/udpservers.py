"""Name and time servers for the VM's lookups in tests, each on a free UDP port of
127.0.0.1: DNS (the firmware's resolver, the virtual board's VBOARD_DNS) and NTP."""
import socket
import struct
import threading
import time


class LoopbackUdp:
    """A UDP server on a free port of 127.0.0.1, answering on a thread of its own:
    `answer(query, addr)` for each datagram until the socket is closed."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                q, addr = self.sock.recvfrom(512)
                self.answer(q, addr)
            except OSError:  # closed (also while an answer was held)
                return

    def close(self):
        self.sock.close()


class DnsServer(LoopbackUdp):
    """Answers A queries for `names` (name: IPv4 address) with a CNAME first and then
    the A record (a compressed name pointer, as resolvers answer); "no such name" for
    other names; no answer at all for a name in `silent`. `queries`: the names asked, in
    order; `asked` is set at the first query. With `held`, each answer waits until
    `release` is set (a slow lookup, for as long as the test needs; at most 30 s)."""

    def __init__(self, names, silent=(), held=False):
        self.names = names
        self.silent = silent
        self.queries = []
        self.asked = threading.Event()
        self.release = threading.Event()
        if not held:
            self.release.set()
        super().__init__()

    def answer(self, q, addr):
        i, labels = 12, []
        while q[i]:
            labels.append(q[i + 1:i + 1 + q[i]].decode())
            i += q[i] + 1
        name = ".".join(labels)
        self.queries.append(name)
        self.asked.set()
        if name in self.silent:
            return
        self.release.wait(30)
        ip = self.names.get(name)
        flags = b"\x81\x80" if ip else b"\x81\x83"
        answers = b""
        if ip:
            answers += b"\xc0\x0c\x00\x05\x00\x01\x00\x00\x00\x3c\x00\x02\xc0\x0c"
            answers += b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + \
                socket.inet_aton(ip)
        n = 2 if ip else 0
        self.sock.sendto(q[:2] + flags + b"\x00\x01" + n.to_bytes(2, "big") +
                         b"\x00\x00\x00\x00" + q[12:i + 5] + answers, addr)

    def close(self):
        self.release.set()
        super().close()


class NtpServer(LoopbackUdp):
    """A real NTP responder; its clock runs `skew_s` ahead of the host's. `queries`: how
    many it answered."""

    def __init__(self, skew_s):
        self.skew = skew_s
        self.queries = 0
        super().__init__()

    def answer(self, q, addr):
        self.queries += 1
        t = time.time() + self.skew + 2208988800
        reply = bytearray(48)
        reply[0] = 0x1C  # version 3, server
        struct.pack_into("!II", reply, 40, int(t), int((t % 1) * 2 ** 32))
        self.sock.sendto(bytes(reply), addr)
