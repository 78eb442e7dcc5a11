"""Long computations as generators that yield between chunks of work (the password hash
in core/webauth.py, the signature check in core/ed25519.py): a service drives one on the
event loop, yielding to the other tasks at each step (platform/supervisor.stepwise);
tools and tests take the result in one go with `finish`."""


def finish(steps):
    """Run a stepping generator to its end; its return value."""
    try:
        while True:
            next(steps)
    except StopIteration as e:
        return e.value
