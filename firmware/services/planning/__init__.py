"""Intelligent charging without a backend (docs/planning.md): the departure plan as the
arbiter's PLAN claim, the per-session limits, the touch button's mode switch, the
charging-mode indicator and the price feed (service). May import core, platform and net,
no other service package."""
