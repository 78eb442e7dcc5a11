"""The virtual board's energy meters: pymodbus servers whose registers follow the world.

The world's configuration (config.json on the board's flash) says which meters the
installer set up; this module serves them as a Modbus peer nobody here wrote:

- the domestic connection (grid) meter over RTU: a pymodbus serial server on a pty
  pair, bridged to a second pty that the VM's `machine.UART` opens (VBOARD_UART<id>);
  or over TCP: a pymodbus TCP server on the configured 127.0.0.1 port (a "gateway"
  answering for the configured RS485 address);
- the solar meter over TCP.

Register maps are written here from the meters' datasheets (not taken from the
firmware's model texts, so a wrong map in the firmware shows up as a failing test).
Values come from the world: mains voltage, the car's current, the house load per phase
(`house_l1_a`..) and solar production (`solar_w`, spread over three phases). The inputs
`meter_mode` / `solar_meter_mode` take a meter off the line ("off": TCP refused, RTU
silent) or make it accept and never answer ("silent").
"""
import asyncio
import logging
import os
import select
import struct
import threading
import time
import tty

# A board killed or reset mid-request (heap searches, power cuts) leaves the server answering
# a closed connection; pymodbus then dumps its last frames on stderr. Normal here, not news.
logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

MODES = ("ok", "off", "silent")
F32, S32, U32, U64 = "f32", "s32", "u32", "u64"


def _phases(q, first, typ, unit):
    return [("%s%d" % (q, n + 1), first + 2 * n, typ, unit) for n in range(3)]


# (function code, low word first, [(quantity, register, type, unit of one count)]),
# units in V, A, W and kWh.
SDM630 = (4, False, _phases("v", 0x00, F32, 1) + _phases("i", 0x06, F32, 1) +
          _phases("p", 0x0C, F32, 1) +
          [("pt", 0x34, F32, 1), ("ei", 0x48, F32, 1), ("ee", 0x4A, F32, 1)])
SDM120 = (4, False, [("v1", 0x00, F32, 1), ("i1", 0x06, F32, 1), ("p1", 0x0C, F32, 1),
                     ("ei", 0x48, F32, 1), ("ee", 0x4A, F32, 1)])
B23 = (3, False, _phases("v", 0x5B00, U32, 0.1) + _phases("i", 0x5B0C, U32, 0.01) +
       [("pt", 0x5B14, S32, 0.01)] + _phases("p", 0x5B16, S32, 0.01) +
       [("ei", 0x5000, U64, 0.01), ("ee", 0x5004, U64, 0.01)])
EM = (4, True, _phases("v", 0x00, S32, 0.1) + _phases("i", 0x0C, S32, 0.001) +
      _phases("p", 0x12, S32, 0.1) +
      [("pt", 0x28, S32, 0.1), ("ei", 0x34, S32, 0.1), ("ee", 0x4E, S32, 0.1)])
MAPS = {"sdm630": SDM630, "sdm72": SDM630, "sdm120": SDM120, "sdm230": SDM120,
        "b23": B23, "b24": B23, "em330": EM, "em340": EM,
        "custom": SDM630}  # tests give the custom model an SDM630 layout


def encode(typ, lo, value):
    """Register words of one value."""
    if typ == F32:
        raw = struct.pack(">f", value)
    elif typ == U64:
        raw = struct.pack(">Q", int(round(value)))
    else:
        raw = struct.pack(">i" if typ == S32 else ">I", int(round(value)))
    words = [raw[k] << 8 | raw[k + 1] for k in range(0, len(raw), 2)]
    return words[::-1] if lo else words


class Meter:
    """One simulated meter: its register map and its energy counters."""

    def __init__(self, which, model, unit):
        self.which = which
        self.model = model
        self.unit = unit
        self.fc, self.lo, self.entries = MAPS[model]
        self.single = model in ("sdm120", "sdm230")
        self.kwh = [0.0, 0.0]  # import, export
        self.at = time.monotonic()
        self.requests = 0
        top = max(reg for _, reg, _, _ in self.entries) + 4
        self.base = min(reg for _, reg, _, _ in self.entries)
        self.count = top - self.base

    def values(self, world):
        """The meter's quantities now, in V, A, W, kWh."""
        with world.lock:
            i = world.inputs
            volts = i["mains_v"]
            car = world.car_current_a()
            phases = i["car_phases"]
            solar_w = i["solar_w"]
            house = [i["house_l1_a"], i["house_l2_a"], i["house_l3_a"]]
        v = {}
        pt = 0.0
        for n in range(3):
            if self.which == "solar":
                amps = solar_w / 3 / volts if volts > 1 else 0.0
            else:
                amps = house[n] + (car if n < phases else 0.0)
                amps -= solar_w / 3 / volts if volts > 1 else 0.0
            v["v%d" % (n + 1)] = volts
            v["i%d" % (n + 1)] = abs(amps)
            v["p%d" % (n + 1)] = volts * amps
            if n == 0 or not self.single:
                pt += volts * amps
        v["pt"] = pt
        now = time.monotonic()
        kwh = pt * (now - self.at) / 3600000
        self.at = now
        self.kwh[0 if kwh >= 0 else 1] += abs(kwh)
        v["ei"], v["ee"] = self.kwh
        return v

    def fill(self, world, registers, start):
        v = self.values(world)
        for q, reg, typ, unit in self.entries:
            for k, w in enumerate(encode(typ, self.lo, v[q] / unit)):
                registers[reg - start + k] = w
        self.requests += 1


def device(meter, world):
    from pymodbus.constants import ExcCodes
    from pymodbus.simulator import DataType, SimData, SimDevice

    async def action(fc, start, _address, _count, registers, values):
        if values is not None or fc != meter.fc:
            return ExcCodes.ILLEGAL_FUNCTION
        meter.fill(world, registers, start)
        return None

    block = [SimData(meter.base, count=meter.count, values=0, datatype=DataType.REGISTERS)]
    # one block for holding and input registers; the action refuses the other code
    return SimDevice(id=meter.unit, simdata=block, action=action)


def _free_pty():
    m, s = os.openpty()
    tty.setraw(s)
    return m, s, os.ttyname(s)


class Meters:
    """The meters of one world, served from a thread with its own asyncio loop."""

    def __init__(self, world, cfg):
        self.world = world
        self.cfg = cfg
        self.meters = {}
        self.env = {}
        self.errors = []
        self._loop = asyncio.new_event_loop()
        self._thread = None
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._servers = {}  # which -> (mode, server object or raw server)
        self._pty = None
        self._rtu = None
        g = cfg.get
        if g("meter.enabled", False):
            self.meters["grid"] = Meter("grid", g("meter.model", "sdm630"),
                                        g("meter.address", 1))
            self.grid_tcp = g("meter.transport", "rtu") == "tcp"
            if not self.grid_tcp:
                a = _free_pty()  # the VM's end
                b = _free_pty()  # pymodbus's end
                self._pty = (a, b)
                from firmware.boards import virtual
                self.env["VBOARD_UART%d" % virtual.UART_ID] = a[2]
        if g("solar.enabled", False):
            self.meters["solar"] = Meter("solar", g("solar.model", "sdm630"),
                                         g("solar.address", 1))

    # ------------------------------------------------------------- lifecycle
    def start(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if self._pty is not None:
            threading.Thread(target=self._bridge, daemon=True).start()
        self._ready.wait(10)
        return self

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._loop.call_soon_threadsafe(lambda: None)
            self._thread.join(timeout=5)
        if self._pty is not None:
            for m, s, _ in self._pty:
                for fd in (m, s):
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            self._pty = None

    def _mode(self, which):
        with self.world.lock:
            return self.world.inputs["meter_mode" if which == "grid" else "solar_meter_mode"]

    def _run(self):
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())

    async def _main(self):
        if self._pty is not None:  # RTU: one server for good; the bridge cuts the line
            from pymodbus.server import ModbusSerialServer
            self._rtu = ModbusSerialServer(
                device(self.meters["grid"], self.world), port=self._pty[1][2],
                baudrate=self.cfg.get("meter.baud", 9600), ignore_missing_devices=True)
            await self._rtu.serve_forever(background=True)
        first = True
        while not self._stop.is_set():
            for which in self.meters:
                if which == "grid" and self._pty is not None:
                    continue
                want = self._mode(which)
                have = self._servers.get(which, (None,))[0]
                if want != have:
                    await self._close(which)
                    try:
                        self._servers[which] = (want, await self._open(which, want))
                    except OSError as e:
                        self.errors.append("%s meter: %s" % (which, e))
                        self._servers[which] = (want, None)
            if first:
                first = False
                self._ready.set()
            await asyncio.sleep(0.05)
        for which in list(self._servers):
            await self._close(which)
        if self._pty is not None:
            await self._rtu.shutdown()

    def _tcp_addr(self, which):
        pre = "meter." if which == "grid" else "solar."
        host = self.cfg.get(pre + "host", "")
        if not host.startswith("127."):  # tests and the panel only ever talk to loopback
            raise OSError("the simulated meter serves on 127.0.0.0/8 only, not %r" % host)
        return host, self.cfg.get(pre + "port", 502)

    async def _open(self, which, mode):
        m = self.meters[which]
        if mode == "off":
            return None
        host, port = self._tcp_addr(which)
        if mode == "silent":
            held = []

            async def swallow(reader, writer):
                held.append(writer)
                while await reader.read(256):
                    pass
            srv = await asyncio.start_server(swallow, host, port, reuse_address=True)
            srv.held = held
            return srv
        from pymodbus.server import ModbusTcpServer
        srv = ModbusTcpServer(device(m, self.world), address=(host, port),
                              ignore_missing_devices=True)
        await srv.serve_forever(background=True)
        return srv

    async def _close(self, which):
        mode, srv = self._servers.pop(which, (None, None))
        if srv is None:
            return
        if hasattr(srv, "held"):
            srv.close()
            for w in srv.held:
                w.close()
            await srv.wait_closed()
        else:
            await srv.shutdown()
        await asyncio.sleep(0.05)

    def _bridge(self):
        """Wire the VM's pty to pymodbus's: bytes cross only while the meter is "ok"."""
        (vm, _, _), (peer, _, _) = self._pty
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([vm, peer], [], [], 0.05)
                for fd in ready:
                    data = os.read(fd, 512)
                    if self._mode("grid") == "ok":
                        os.write(peer if fd == vm else vm, data)
            except OSError:
                return

    def state(self):
        return {w: {"model": m.model, "requests": m.requests} for w, m in self.meters.items()}


def attach(world):
    """The meters `world`'s configuration names, started; None when there are none."""
    from tools.vboard.world import read_flash
    try:
        cfg = read_flash(world.state_dir, "config.json", settings=True)
    except ValueError:  # corrupt, and no good copy: the firmware runs on defaults too
        return None
    m = Meters(world, cfg)
    if not m.meters:
        return None
    world.extra_env.update(m.env)
    return m.start()
