"""Modbus master for energy meters: RTU over an RS485 UART and TCP (also a TCP gateway
in front of RS485 meters, addressed by their RS485 address). Function codes 03 and 04.

Everything is asyncio: a silent, slow or unplugged meter costs a waiting task, never a
stalled event loop. One request is one task under `asyncio.wait_for_ms`, so a meter that
trickles bytes and stops is cut off at the deadline like one that never answers.

`read()` returns a memoryview of the data bytes in the client's own buffer (valid until
the next request) or raises ModbusError with a short reason (docs/meters.md lists them):
timeout, short, crc, length, frame, address, tid, exception N, refused, closed, net N.
"""
import asyncio
import socket
from errno import ECONNREFUSED, ECONNRESET, EINPROGRESS
from time import ticks_add, ticks_diff, ticks_ms

from micropython import const

_BUF = const(262)  # MBAP 7 + unit/fc/count 2 + 250 data bytes (125 registers) + CRC
_MAX_REGS = const(125)
_BACKOFF_MAX_MS = const(8000)
# CRC-16/MODBUS (reflected 0xA001), four bits at a time: 16 entries instead of 256
_CRC = (0x0000, 0xCC01, 0xD801, 0x1400, 0xF001, 0x3C00, 0x2800, 0xE401,
        0xA001, 0x6C00, 0x7800, 0xB401, 0x5000, 0x9C01, 0x8801, 0x4400)


class ModbusError(Exception):
    pass


def crc16(buf, n):
    crc = 0xFFFF
    t = _CRC
    for i in range(n):
        crc ^= buf[i]
        crc = (crc >> 4) ^ t[crc & 15]
        crc = (crc >> 4) ^ t[crc & 15]
    return crc


def _pdu(buf, at, fc, addr, count):
    if fc != 3 and fc != 4 or not 0 < count <= _MAX_REGS:
        raise ValueError("fc 3/4, 1..125 registers")
    buf[at] = fc
    buf[at + 1] = addr >> 8
    buf[at + 2] = addr & 255
    buf[at + 3] = count >> 8
    buf[at + 4] = count & 255


class Rtu:
    """Modbus RTU on a UART (8N1 at `baud`) with the RS485 driver-enable pin `de`."""

    def __init__(self, uart, de, baud, timeout_ms=500):
        self.uart = uart
        self.de = de
        self.timeout_ms = timeout_ms
        self.char_us = 10000000 // baud  # 10 bits per character
        self.buf = bytearray(_BUF)
        self._mv = memoryview(self.buf)
        self._r = asyncio.StreamReader(uart)
        self._got = 0
        self._failed = 0  # the last request failed: its timeout (its answer may still come)
        if de is not None:
            de.value(0)

    def close(self):
        pass

    async def _quiet(self, quiet_ms):
        """Drop what arrives until the line was quiet for quiet_ms (the failed request's
        answer timeout; at most four of them: a babbling line). RTU answers carry no
        request id: after a failed request its answer may still come, and one of the
        same length would otherwise be taken for the next request's."""
        end = ticks_add(ticks_ms(), 4 * quiet_ms)
        while ticks_diff(end, ticks_ms()) > 0:
            try:
                await asyncio.wait_for_ms(self._r.readinto(self._mv), quiet_ms)
            except asyncio.TimeoutError:
                return

    async def read(self, unit, fc, addr, count, force=False):
        if self._failed:  # before the request is made: this drops into the buffer
            await self._quiet(self._failed)
        b = self.buf
        u = self.uart
        b[0] = unit
        _pdu(b, 1, fc, addr, count)
        c = crc16(b, 6)
        b[6] = c & 255
        b[7] = c >> 8
        while u.any():  # a late answer or noise must not be taken for this one
            u.read()
        de = self.de
        if de is not None:
            de.value(1)
        u.write(self._mv[:8])
        # Drop DE once the last stop bit is out: sleep through most of the frame, then
        # poll the transmitter for the rest (bounded: at most about two characters).
        ms = self.char_us * 8 // 1000
        if ms > 2:
            await asyncio.sleep_ms(ms - 2)
        t0 = ticks_ms()
        while not u.txdone() and ticks_diff(ticks_ms(), t0) < 3:
            pass
        if de is not None:
            de.value(0)
        self._got = 0
        self._failed = self.timeout_ms
        try:
            n = await asyncio.wait_for_ms(self._recv(unit, fc, count), self.timeout_ms)
        except asyncio.TimeoutError:
            raise ModbusError("short" if self._got else "timeout")
        self._failed = 0
        return self._mv[3:n - 2]

    async def _recv(self, unit, fc, count):
        b = self.buf
        mv = self._mv
        r = self._r
        need = 3
        while self._got < need:
            got = await r.readinto(mv[self._got:need])
            if got:
                self._got += got
                if need == 3 and self._got >= 3:
                    if b[1] == fc | 0x80:
                        need = 5
                    elif b[1] != fc:
                        raise ModbusError("frame")
                    elif b[2] != 2 * count:
                        raise ModbusError("length")
                    else:
                        need = 5 + b[2]
        if crc16(b, need - 2) != b[need - 2] | b[need - 1] << 8:
            raise ModbusError("crc")
        if b[0] != unit:
            raise ModbusError("address")
        if b[1] & 0x80:
            raise ModbusError("exception %d" % b[2])
        return need


class Tcp:
    """Modbus TCP (MBAP framing) to `host`:`port`; reconnects with a growing backoff."""

    def __init__(self, host, port, timeout_ms=1000):
        self.host = host
        self.port = port
        self.timeout_ms = timeout_ms
        self.buf = bytearray(_BUF)
        self._mv = memoryview(self.buf)
        self._w = None  # the connection's asyncio stream, None = not connected
        self._tid = 0
        self._got = 0
        self._delay = 0  # reconnect backoff, ms; 0 = try at once
        self._retry_at = 0
        self.error = None  # the last failure's reason

    def close(self):
        w = self._w
        self._w = None
        if w is not None:
            try:
                w.s.close()  # Stream.close() does nothing on MicroPython
            except OSError:
                pass

    def _fail(self, reason):
        self.close()
        self.error = reason
        d = self._delay
        self._delay = _BACKOFF_MAX_MS if d * 2 > _BACKOFF_MAX_MS else (d * 2 or 1000)
        self._retry_at = ticks_add(ticks_ms(), self._delay)
        return ModbusError(reason)

    async def read(self, unit, fc, addr, count, force=False):
        if self._w is None:
            if self._delay and not force and ticks_diff(self._retry_at, ticks_ms()) > 0:
                raise ModbusError(self.error)  # backing off: the reason it went away
            # Our own non-blocking connect (not open_connection): on a timeout the socket
            # is ours to close, and the unix port does not close lost sockets for us.
            # `host` is an IP address (settings check it): getaddrinfo does no lookup.
            s = socket.socket()
            self._w = asyncio.StreamWriter(s, {})
            try:
                s.setblocking(False)
                s.connect(socket.getaddrinfo(self.host, self.port)[0][-1])
            except OSError as e:
                if e.args[0] != EINPROGRESS:
                    raise self._fail(_net(e))
        b = self.buf
        self._tid = tid = (self._tid + 1) & 0xFFFF
        b[0] = tid >> 8
        b[1] = tid & 255
        b[2] = b[3] = b[4] = 0
        b[5] = 6
        b[6] = unit
        _pdu(b, 7, fc, addr, count)
        self._got = 0
        try:
            self._w.write(self._mv[:12])  # queued until connected
            n = await asyncio.wait_for_ms(self._recv(tid, unit, fc, count), self.timeout_ms)
        except asyncio.TimeoutError:
            raise self._fail("short" if self._got else "timeout")
        except OSError as e:
            raise self._fail(_net(e))
        except ModbusError as e:
            if e.args[0].startswith("exception"):  # the connection itself is fine
                self._delay = 0
                raise
            raise self._fail(e.args[0])
        self._delay = 0
        self.error = None
        return self._mv[9:n]

    async def _recv(self, tid, unit, fc, count):
        r = self._w
        await r.drain()  # waits for the connection; raises if it was refused
        b = self.buf
        mv = self._mv
        need = 9
        while self._got < need:
            got = await r.readinto(mv[self._got:need])
            if got is None:  # woken without data
                continue
            if not got:
                raise ModbusError("closed")
            self._got += got
            if need == 9 and self._got >= 9:
                ln = b[4] << 8 | b[5]
                if b[2] or b[3]:
                    raise ModbusError("frame")  # protocol id must be 0
                if b[0] << 8 | b[1] != tid:
                    raise ModbusError("tid")
                if b[7] == fc | 0x80:
                    if ln != 3:
                        raise ModbusError("length")
                    need = 9
                elif b[7] != fc:
                    raise ModbusError("frame")
                elif ln != 3 + 2 * count or b[8] != 2 * count:
                    raise ModbusError("length")
                else:
                    need = 6 + ln
        if b[6] != unit:
            raise ModbusError("address")
        if b[7] & 0x80:
            raise ModbusError("exception %d" % b[8])
        return need


def _net(e):
    n = e.args[0] if e.args else 0
    return "refused" if n == ECONNREFUSED else "closed" if n == ECONNRESET else "net %d" % n
