"""Keeps the services running and proves the firmware alive to the hardware watchdog.

A task that raises is logged, the relay is held open (the core's `halted` input) and
the task is restarted after a pause that grows with each crash; the relay stays open
until every crashed task is back (the set `down`), not just the first to restart. After
`max_crashes` crashes of one task the charger stays halted (safe mode) until a restart: the web and
the REPL stay up for diagnosis. The watchdog is fed only while the control tick makes
progress and this loop runs, so a stuck timer or a stuck event loop both reset the board.
"""
import asyncio
import io
import sys

from firmware.services.platform.log import ERROR


async def stepwise(steps):
    """Run a stepping generator (core/steps.py) to its end on the event loop, letting the
    other tasks run between its steps; its return value."""
    try:
        while True:
            next(steps)
            await asyncio.sleep_ms(0)
    except StopIteration as e:
        return e.value


def describe(exc):
    """The traceback as text; just the exception if even that cannot be allocated."""
    try:
        buf = io.StringIO()
        sys.print_exception(exc, buf)
        return buf.getvalue().strip()
    except MemoryError:
        return repr(exc)


class Supervisor:
    def __init__(self, control, log, wdt=None, max_crashes=5, backoff_ms=1000):
        self.control = control
        self.log = log
        self.wdt = wdt
        self.max_crashes = max_crashes
        self.backoff_ms = backoff_ms
        self.crashes = {}
        self.safe_mode = False
        self.down = set()  # names of the crashed tasks waiting for their restart
        self._tasks = {}
        self._factories = {}

    def add(self, name, factory):
        """Run `factory()` (an async function) as a supervised task, from start(), or
        now if the supervisor runs already."""
        self._factories[name] = factory
        self.crashes[name] = 0
        if self._tasks:  # running already: a service that started late
            self._tasks[name] = asyncio.create_task(self._keep(name))

    def has(self, name):
        return name in self._factories

    def start(self):
        for name in self._factories:
            self._tasks[name] = asyncio.create_task(self._keep(name))

    async def _keep(self, name):
        factory = self._factories[name]
        while True:
            try:
                await factory()
                self.log.add(ERROR, "task %s ended; restarting" % name)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - any crash is contained here
                self._crashed(name, e)
                if self.safe_mode:
                    return
            await asyncio.sleep_ms(self.backoff_ms * self.crashes[name])
            self.down.discard(name)
            if not self.down and not self.safe_mode and not self.control.failed:
                self.control.halted = False

    def _crashed(self, name, exc):
        self.control.halted = True  # relay open until the task is back
        self.down.add(name)
        self.crashes[name] += 1
        try:
            self.log.add(ERROR, "task %s crashed (%d): %s" % (name, self.crashes[name],
                                                               describe(exc)))
        except MemoryError:  # out of memory: the relay is open, the count still counts
            pass
        if self.crashes[name] >= self.max_crashes:
            self.enter_safe_mode("task %s keeps crashing" % name)

    def enter_safe_mode(self, reason):
        self.safe_mode = True
        self.control.halted = True
        self.log.add(ERROR, "safe mode: charging stopped until restart (%s)" % reason)

    async def run(self, period_ms=500):
        """Watch the control tick and feed the watchdog; returns only on cancellation."""
        self.start()
        last = -1
        control_crashes = 0
        while True:
            c = self.control
            if c.failed is not None:
                control_crashes += 1
                self.log.add(ERROR, "control tick failed (%d): %s" % (
                    control_crashes, describe(c.failed)))
                if control_crashes >= self.max_crashes:
                    c.failed = None
                    self.enter_safe_mode("control tick keeps failing")
                else:
                    c.restart()
                    c.halted = self.safe_mode or bool(self.down)
            elif c.ticks != last:
                last = c.ticks
                if self.wdt is not None:
                    self.wdt.feed()
            await asyncio.sleep_ms(period_ms)
