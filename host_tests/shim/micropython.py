"""CPython stand-in for MicroPython's `micropython` module (host tests and tools only)."""


def const(value):
    return value


def native(func):
    return func


viper = native


def schedule(func, arg):
    func(arg)


def mem_info(*_):
    pass
