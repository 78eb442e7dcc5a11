"""The few firmware objects the meter service (services/metering/service.py) reads, so the tests
and the bench can run it alone in the VM: settings, arbiter, the charger's figures,
log and front indicators."""
from firmware.boards import virtual
from firmware.core import limits, settings
from firmware.core.front import Front
from firmware.services.platform.log import Log


class Obj:
    pass


def make(config, phase_da=(-1, -1, -1), offered_da=0, relay=False):
    """An app with `config` over the default settings; `phase_da`: the car's current per
    phase as the board's current transformers read it (-1: none fitted)."""
    app = Obj()
    app.board = virtual
    app.config = Obj()
    app.config.values = settings.defaults()
    app.config.values.update(config)
    app.arbiter = limits.Arbiter()
    app.control = Obj()
    app.control.phase_da = list(phase_da)
    app.control.charger = Obj()
    app.control.charger.offered_da = offered_da
    app.control.charger.relay = relay
    app.log = Log(echo=False)
    app.panel = Obj()
    app.panel.front = Front()
    return app
