"""The relay guard's rule: when a hard interrupt opens the relay without the control tick.

The control tick is a soft callback: during one long call into C (a TLS step, a flash
erase) it does not run, and neither does the core. Where the port has hard interrupts,
drivers/contactor.Guard asks this rule from a hard timer and from the pilot
comparator's edge. Plain ints and bools in, a bool out: it runs in interrupt context, so
it allocates nothing and raises nothing.

- `closed`: the relay is commanded closed;
- `above_c`: the comparator sees the pilot's high plateau above the C/B threshold
  (9 V state B or 12 V state A: the vehicle stopped asking for power or left);
- `age_ms`: how long ago the control tick last pulsed the keep-alive, i.e. ran;
- `limit`: the keep-alive circuit's drop-out time in ms (the board's KEEPALIVE_MS).
"""


def guard_opens(closed, above_c, age_ms, limit):
    """True: open the relay now."""
    return closed and (above_c or age_ms > limit)
