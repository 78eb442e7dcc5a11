"""Intelligent charging without a backend (docs/planning.md): always loaded, and small.
Once intelligent charging, a tariff, a price feed, charging windows or a session limit
is configured, or a plan is asked for, the app starts its task, which loads follow.py
(the session, its limits, the touch button's mode switch, the mode indicator) and runs
it; a box that uses none of it pays only this. Until then the touch button has nothing
to switch and the mode indicator shows immediate charging (green; blue without a
vehicle).
"""


def wanted(c):
    return c["plan.mode"] != "immediate" or c["plan.tariff"] or c["plan.windows"] or \
        c["price.url"] or c["session.max_kwh"] or c["session.max_min"]


class Planning:
    def __init__(self, app):
        self.app = app
        self.impl = None  # follow.Follow once configured
        app.panel.on_touch.append(self.touch)

    def _load(self):
        if self.impl is None:
            from firmware.services.planning.follow import Follow
            self.impl = Follow(self.app)
        return self.impl

    def touch(self):
        if self.impl is not None:
            self.impl.touch()

    def request(self, d, who):
        """The local API's and MQTT's plan for the running session (plans.py)."""
        self._load().request(d, who)
        self.app.start_switched_on()  # its task, if no setting started it yet

    def key(self):
        return None if self.impl is None else self.impl.key()

    def status(self):
        if self.impl is None:
            return {"mode": "immediate", "state": "off"}
        return self.impl.status()

    def wanted(self):
        """Whether the app should run this service's task (App.start_switched_on)."""
        return self.impl is not None or wanted(self.app.config.values)

    async def run(self):
        """The app starts it once wanted() (it follows later changes itself)."""
        await self._load().run()
