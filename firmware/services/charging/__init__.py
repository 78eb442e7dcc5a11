"""The charging side of the hardware: the timer-driven control tick that runs the core
(control), the front panel's LEDs, sounds and buttons (panel), the session records and
power readings (sessions). May import core and drivers only."""
