"""machine.UART for the virtual board: a pseudo-terminal that the world wires to a line.

The world names the pty in VBOARD_UART<id> (tools/vboard/meters.py bridges it to a
pymodbus RTU server). Without one the UART is unconnected: writes vanish and nothing
ever arrives, like an RS485 bus with no meter on it. Reads never block (raw mode,
VMIN=0), and asyncio polls the file descriptor, as it polls a UART on a board.
"""
import io
import os
import select
import socket

import termios
from micropython import const

# const: no interned names in the VM (see machine.py)
_GET_FILENO = const(10)  # MP_STREAM_GET_FILENO: poll() uses the descriptor itself
_VMIN = const(6)
_VTIME = const(5)


class UART(io.IOBase):
    # bits, parity, stop, tx, rx, timeout... (unused) in *_args/**_kw: no interned names
    def __init__(self, id, baudrate=9600, *_args, **_kw):
        self.id = id
        self.baudrate = baudrate
        self.written = 0  # bytes sent, for tests
        path = os.getenv("VBOARD_UART%d" % id)
        if path:
            self._f = open(path, "r+b")
            fd = self._f.fileno()
            termios.setraw(fd)
            a = termios.tcgetattr(fd)
            a[6][_VMIN] = 0
            a[6][_VTIME] = 0
            termios.tcsetattr(fd, termios.TCSANOW, a)
            self._fd = fd
        else:
            self._f = None
            self._idle = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # never readable
            self._fd = self._idle.fileno()
        self._poll = select.poll()
        self._poll.register(self._fd, select.POLLIN)

    def init(self, baudrate=9600, **_kw):
        self.baudrate = baudrate

    def deinit(self):
        if self._f is not None:
            self._f.close()
        else:
            self._idle.close()

    def any(self):
        return 1 if self._f is not None and self._poll.poll(0) else 0

    def read(self, n=256):
        if self._f is None:
            return None
        return self._f.read(n) or None

    def readinto(self, buf, n=None):
        if self._f is None:
            return None
        return self._f.readinto(buf if n is None else memoryview(buf)[:n]) or None

    def write(self, buf):
        self.written += len(buf)
        if self._f is None:
            return len(buf)
        return self._f.write(buf)

    def flush(self):
        pass

    def txdone(self):
        return True  # the pty takes every byte at once

    def ioctl(self, req, arg):
        return self._fd if req == _GET_FILENO else -1
