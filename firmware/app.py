"""Composition root: builds the drivers from the board's pin map, wires the services
and runs them. main.py only calls `main()`.
"""
import asyncio
import gc
from time import ticks_ms

import machine
from machine import ADC, PWM, Pin

from firmware import boards
from firmware.core import limits
from firmware.core.charger import ChargerConfig
from firmware.core.front import Front
from firmware.core.sensing import dip_from_bits, dip_from_ladder, ntc_table
from firmware.drivers.contactor import Guard, Relay, ResidualCurrentDetector
from firmware.drivers.panel import Buzzer, StatusLeds
from firmware.drivers.pilot import PilotDriver
from firmware.drivers.rc522 import RC522
from firmware.drivers.sensors import DigitalInput, RoundRobinADC, TouchInput
from firmware.services.platform import flashgate
from firmware.services.platform.config import Config, load_json, load_prov, write_json
from firmware.services.platform import datalog
from firmware.services.charging.control import Control
from firmware.services.platform.datalog import DataLog
from firmware.services.platform.log import ERROR, INFO, Log
from firmware.services.metering.service import Meters
from firmware.services.mqtt.service import Mqtt
from firmware.services.rfid.service import Rfid
from firmware.services.charging.sessions import Sessions
from firmware.services.platform.supervisor import Supervisor
from firmware.services.charging.panel import Panel
from firmware.services.planning.service import Planning

current = None  # the running App, for diag at the REPL


def run_gc_threshold(free):
    """Bytes allocated between collections once running, for `free` bytes free then.
    boot.py's 4 KB packs the imports; running, the call frames of functions with more
    than 11 locals and stack slots count too (on the heap, freed at once): at 4 KB that
    was about 100 collections a second in the VM. None at all (-1) let garbage spread
    between long-lived objects (9 KB requests failed in a 384 KB heap), and a fixed 16 KB
    raised the smallest heap that runs everything from 70-71 to 75 KB. An eighth of what
    is free keeps a small heap as packed as before (docs/decisions.md "Garbage
    collection while running")."""
    return max(4096, free // 8)


def _input(n, active_low=True):
    return None if n is None else DigitalInput(Pin(n, Pin.IN, Pin.PULL_UP), active_low)


def _adc(n):
    return None if n is None else ADC(Pin(n))


class Hardware:
    """Every driver of the board, built from its pin map (missing parts are None)."""

    def __init__(self, b, brightness):
        self.board = b
        self.timer_id = b.TIMER_ID
        coil = Pin(b.RELAY, Pin.OUT, value=0)
        sense = None if b.RELAY_SENSE is None else Pin(b.RELAY_SENSE, Pin.IN, Pin.PULL_UP)
        keepalive = None if b.RELAY_KEEPALIVE is None else Pin(b.RELAY_KEEPALIVE, Pin.OUT, value=0)
        self.relay = Relay(coil, sense, b.RELAY_SENSE_ACTIVE_LOW, keepalive)
        comparator = None if b.CP_COMPARATOR is None else Pin(b.CP_COMPARATOR, Pin.IN)
        # the guard's timer: a virtual one like the tick's, else the next hardware timer
        self.guard = Guard(self.relay, comparator, b.KEEPALIVE_MS,
                           b.TIMER_ID if b.TIMER_ID < 0 else b.TIMER_ID + 1)
        cp = PWM(Pin(b.CP_PWM), freq=1000, duty_u16=65535)
        self.pilot = PilotDriver(cp, ADC(Pin(b.CP_ADC)), b.CP_ZERO_RAW, b.CP_MV_NUM, b.CP_MV_DEN)
        self.rcd = None if b.RCD_TRIP is None else ResidualCurrentDetector(
            Pin(b.RCD_TRIP, Pin.IN), Pin(b.RCD_TEST, Pin.OUT, value=0), coil)
        self.pe = _input(b.PE_OK, b.PE_OK_ACTIVE_LOW)
        cts = b.CT_ADC
        self.slow = RoundRobinADC([_adc(b.NTC_ADC), _adc(b.MAINS_ADC),
                                   _adc(cts[0]), _adc(cts[1]), _adc(cts[2])])
        self.has_ntc = b.NTC_ADC is not None
        self.ntc_table = ntc_table(b.NTC_BETA, b.NTC_R25, b.NTC_PULLUP) if self.has_ntc else None
        self.has_mains = b.MAINS_ADC is not None
        self.mains_num = b.MAINS_DV_NUM
        self.mains_den = b.MAINS_DV_DEN
        self.has_ct = (cts[0] is not None, cts[1] is not None, cts[2] is not None)
        self.ct_num = b.CT_DA_NUM
        self.ct_den = b.CT_DA_DEN
        self.leds = None
        if b.LED_PIN is not None:
            import neopixel
            self.leds = StatusLeds(neopixel.NeoPixel(Pin(b.LED_PIN, Pin.OUT), b.LED_COUNT),
                                   brightness)
        self.buzzer = None if b.BUZZER is None else \
            Buzzer(PWM(Pin(b.BUZZER), freq=2000, duty_u16=0))
        self.service_button = _input(b.SERVICE_BUTTON)
        self.rfid = None
        self.spi = None  # the RFID reader and the SD card slot share it
        sd_cs = getattr(b, "SD_CS", None)
        if b.RC522_CS is not None or sd_cs is not None:
            self.spi = spi = machine.SPI(b.SPI_ID, baudrate=1000000, sck=Pin(b.SPI_SCK),
                                         mosi=Pin(b.SPI_MOSI), miso=Pin(b.SPI_MISO))
        if b.RC522_CS is not None:
            self.rfid = RC522(spi, Pin(b.RC522_CS, Pin.OUT, value=1), None if
                              b.RC522_RST is None else Pin(b.RC522_RST, Pin.OUT, value=1))
        self.sd_cs = None if sd_cs is None else Pin(sd_cs, Pin.OUT, value=1)
        if b.TOUCH_BUTTON is None or b.TOUCH_THRESHOLD is None:
            self.touch_button = _input(b.TOUCH_BUTTON)
        else:
            self.touch_button = TouchInput(machine.TouchPad(Pin(b.TOUCH_BUTTON)),
                                           b.TOUCH_THRESHOLD)
        # The DIP switches are read once: a new installation maximum needs a restart.
        if b.DIP_PINS is not None:
            self.dip = dip_from_bits([_input(n).active() for n in b.DIP_PINS])
        elif b.DIP_LADDER_ADC is not None:
            self.dip = dip_from_ladder(ADC(Pin(b.DIP_LADDER_ADC)).read_u16())
        else:
            self.dip = 0


def charger_config(hw):
    """The charger's facts about the hardware; App.apply_settings adds the settings'."""
    c = ChargerConfig()
    c.rcd_present = hw.rcd is not None
    c.relay_sense = hw.board.RELAY_SENSE is not None
    c.temp_sensor = hw.has_ntc
    return c


class App:
    def __init__(self, board=None):
        self.log = Log(size=8)  # the last few for diag.log(); the history is the data log
        self.datalog = DataLog(self.log)  # first: what follows may have to log
        self.datalog.boot(machine.reset_cause())
        self.config = Config(self.log)
        self.board = boards.load(board or load_prov().get("board"))
        flashgate.log = self.log
        self._recover()  # before any file is read: the journal may hold newer records
        self.config.load()
        cfg = self.config
        datalog.utc_offset_s = cfg.get("time.utc_offset_min") * 60
        try:
            st = load_json("update.json", {})
        except ValueError:
            st = {}
        self.trial = False
        if "note" in st or "max" in st:  # boot.py rolled back, or a new version on trial
            from firmware.services.platform import update
            self.trial = update.after_boot(self)
        self.hw = hw = Hardware(self.board, cfg.get("device.led_brightness"))
        self.dip = hw.dip
        self.arbiter = limits.Arbiter()
        self.arbiter.set(limits.INSTALLATION, limits.DIP_DA[self.dip])
        self.control = Control(hw, charger_config(hw), self.arbiter, self.board.TICK_MS)
        flashgate.control = self.control  # from now on no file is written while it charges
        self.apply_settings()
        self.panel = Panel(hw.leds, hw.buzzer, self.control, Front(), hw.service_button,
                           hw.touch_button, self.restart)
        self.wdt = None
        self.supervisor = sup = Supervisor(self.control, self.log)
        sup.add("leds", self.panel.run_leds)
        sup.add("sounds", self.panel.run_sounds)
        sup.add("buttons", self.panel.run_buttons)
        sup.add("log", lambda: self.log.follow(self.control))
        sup.add("datalog", self.datalog.run)
        sup.add("flash", lambda: flashgate.run(write_json))
        self.meters = Meters(self)  # energy meters, load management, solar surplus
        # The services below import much code: out of memory, each is tried again later
        self.not_started = {}  # service: its next pause (s) while it waits for memory
        self._pending = []
        self.net = None
        self.optional("network", self._network)  # hotspot, Wi-Fi client, LAN, time
        # RFID authorization: the whitelist, master card, card programming
        self.rfid = Rfid(hw.rfid, self.control, self.panel, cfg, self.log)
        sup.add("rfid", self.rfid.run)
        # Sessions: energy, and the start and end records in the data log
        self.sessions = Sessions(self.control, cfg, self.datalog, lambda: self.rfid.auth.holder)
        sup.add("sessions", self.sessions.run)
        # Intelligent charging without a backend, the per-session limits, the touch
        # button and the charging-mode indicator; the plan and the price feed on first use
        # (docs/planning.md)
        self.backend = None
        self.planning = Planning(self)
        # The web interface and the local JSON API (docs/web.md): never in the way of
        # charging; first of these, so that it can show what did not start
        self.web = None
        if getattr(self.board, "WEB_PORT", 0) >= 0:  # -1: a board without web pages
            self.optional("web interface", self._web)
        # The backend (OCPP 1.6J): imported only when enabled, it costs RAM
        if cfg.get("backend.enabled"):
            self.optional("backend", self._backend)
        # The SD card slot ("USB settings" in the manual): imported only when allowed
        self.sdslot = None
        if hw.sd_cs is not None and (cfg.get("sd.allow_init") or cfg.get("sd.allow_config")):
            self.optional("SD card slot", self._sdslot)
        # MQTT for home automation (docs/mqtt.md): its client is imported once switched on
        self.mqtt = Mqtt(self)
        # The meters', planning's and MQTT's tasks only once switched on (each task and its
        # coroutines take RAM): now, and after each change of the settings
        cfg.on_change = self.settings_changed
        self.start_switched_on()

    def settings_changed(self):
        """After every saved change of the settings, whoever made it (the web, an imported
        configuration, MQTT, the REPL's diag.set): into the running charger, and the
        services it switched on started."""
        self.apply_settings()
        self.start_switched_on()

    def start_switched_on(self):
        """Add the meters', planning's and MQTT's tasks once the settings switch them on
        (planning: or a plan is asked for); each stays from then on and follows later
        changes itself."""
        sup = self.supervisor
        for name, service in (("meter", self.meters), ("planning", self.planning),
                              ("mqtt", self.mqtt)):
            if not sup.has(name) and service.wanted():
                sup.add(name, service.run)

    def _recover(self):
        """Open the board's flash journal and apply what a power cut left in it."""
        spec = getattr(self.board, "JOURNAL", None)
        if spec is None:
            return
        from firmware.drivers.journal import Journal, open_device
        try:
            flashgate.journal = Journal(open_device(spec))
            n = flashgate.recover(write_json)
        except (OSError, ValueError, ImportError) as e:
            self.log.add(ERROR, "flash journal: %s" % e)
            return
        if n:
            self.log.add(INFO, "flash journal: %d writes of the last session applied" % n)

    def _network(self):
        from firmware.services.net.network import Net
        self.net = Net(self.config, self.log, self.board)
        return (("net", self.net.run),)

    def _backend(self):
        from firmware.services.ocpp.backend import Backend
        self.backend = Backend(self)
        return (("backend", self.backend.run), ("backend-link", self.backend.link))

    def _sdslot(self):
        from firmware.services.storage.slot import SdSlot
        self.sdslot = SdSlot(self)
        return (("sdslot", self.sdslot.run),)

    def _web(self):
        from firmware.services.web.server import Web
        self.web = Web(self)
        return (("web", self.web.serve), ("web-figures", self.web.run))

    def optional(self, name, start):
        """Start a service: `start()` imports and makes it and returns its (task name,
        async function) pairs. Out of memory, the console and the status say so, and it
        is tried again with a growing pause; charging goes on without it."""
        try:
            tasks = start()
        except ImportError as e:  # a port without the module, or lib/ not installed
            self.log.add(ERROR, "%s not started: %r" % (name, e))
            return
        except MemoryError as e:
            self._out_of_memory(name, e, 10)
            self._pending.append((name, start))
            return
        for task in tasks:
            self.supervisor.add(task[0], task[1])

    def _out_of_memory(self, name, e, pause_s):
        gc.collect()
        self.not_started[name] = pause_s
        self.log.add(ERROR, "%s not started: out of memory (%s); trying again in %d s. "
                     "More RAM or fewer features: docs/hardware.md" % (name, e, pause_s))

    async def _retry(self, name, start):
        pause_s = self.not_started[name]
        while True:
            await asyncio.sleep(pause_s)
            pause_s = min(pause_s * 2, 600)
            gc.collect()
            try:
                tasks = start()
            except MemoryError as e:
                self._out_of_memory(name, e, pause_s)
                continue
            del self.not_started[name]
            self.log.add(INFO, "%s started" % name)
            for task in tasks:
                self.supervisor.add(task[0], task[1])
            return

    def apply_settings(self):
        """The charging settings into the running charger and arbiter: at start and after
        every saved change (settings_changed)."""
        cfg = self.config
        self.arbiter.set(limits.CABLE, cfg.get("charging.cable_a") * 10)
        self.arbiter.set(limits.CONFIGURED, cfg.get("charging.max_current_a") * 10)
        c = self.control.cfg
        c.ventilation = cfg.get("charging.ventilation")
        c.retry_delay_ms = cfg.get("charging.retry_delay_s") * 1000
        c.selftest_ms = cfg.get("charging.selftest_s") * 1000
        c.wake_after_ms = cfg.get("charging.wake_after_s") * 1000
        self.apply_modes()
        datalog.utc_offset_s = cfg.get("time.utc_offset_min") * 60

    def apply_modes(self):
        """Showroom and commissioning from the settings; DIP code 0 forces commissioning."""
        c = self.control.charger
        c.showroom = self.config.get("device.showroom")
        c.service_mode = self.dip == 0 or self.config.get("device.commissioning")

    def start(self):
        self.control.start()
        da = limits.DIP_DA[self.dip]
        self.log.add(INFO, "started on %s, DIP %d: installation maximum %d.%d A" % (
            self.board.NAME, self.dip, da // 10, da % 10))
        if self.dip == 0:
            self.log.add(ERROR, "DIP switches not set: commissioning mode, no charging")
        self.wdt = machine.WDT(timeout=self.board.WDT_TIMEOUT_MS)
        self.supervisor.wdt = self.wdt
        if self.trial:
            from firmware.services.platform import update
            h = self.config.get("update.healthy_s")
            asyncio.create_task(update.watch(self, h, 10 * h))

    # Start, stop and the session current asked for by the local API or MQTT: one path
    # through the authorization and the arbiter's APP claim for both.
    def max_app_da(self):
        """The highest current the app may ask for: installation, cable, configured."""
        cl = self.arbiter.claims
        return min(cl[limits.INSTALLATION], cl[limits.CABLE], cl[limits.CONFIGURED])

    def remote_start(self, who):
        self.arbiter.clear(limits.APP)
        au = self.rfid.auth
        if au.enabled and au.holder is None:
            au.grant("", ticks_ms())  # as a remote start: lapses without a vehicle in 60 s
        self.log.add(INFO, who + ": start")

    def remote_stop(self, who):
        au = self.rfid.auth
        if au.enabled:  # take the authorization back, as its card would
            b = self.backend
            if not (b is not None and b.stop("Local")):
                au.holder = None
                au.bound = False
        else:  # no authorization: the app withholds the release until start or unplug
            self.arbiter.set(limits.APP, 0)
        self.log.add(INFO, who + ": stop")

    def remote_current(self, da, who):
        """Claim `da` (checked by the caller: 60 to max_app_da()) for the running session;
        False if no vehicle is connected (the claim ends with the session)."""
        if not self.sessions.now.plugged:
            return False
        self.arbiter.set(limits.APP, da)
        self.log.add(INFO, "%s: current %d.%d A" % (who, da // 10, da % 10))
        return True

    def updater(self):
        """An update.Updater for the web upload or the backend; after its finish(),
        call restart("software update ...") to switch."""
        from binascii import unhexlify

        from firmware.services.platform.update import Updater
        k = self.config.prov.get("update_key")
        u = Updater(self.log, self.control.charger, self.board.NAME,
                    unhexlify(k) if k else None)
        u.trial_boots = self.config.get("update.trial_boots")
        return u

    def stop(self):
        self.control.stop()

    def restart(self, reason):
        self.log.add(INFO, "restart: %s" % reason)
        self.stop()
        flashgate.settle(write_json)  # the relay is open now: what charging held
        self.datalog.flush()
        machine.reset()

    async def run(self):
        self.start()
        for name, start in self._pending:
            asyncio.create_task(self._retry(name, start))
        await self.supervisor.run()


def main(board=None, extra=()):
    """Run the firmware. `extra`: (name, async function(app)) pairs to supervise too."""
    global current
    gc.collect()  # the imports' garbage, before the long-lived objects: less fragmentation
    app = App(board)
    current = app
    for name, task in extra:
        app.supervisor.add(name, lambda t=task: t(app))
    gc.collect()
    gc.threshold(run_gc_threshold(gc.mem_free()))
    try:
        asyncio.run(app.run())
    finally:
        app.stop()  # relay open, pilot at -12 V, whatever ended the loop
