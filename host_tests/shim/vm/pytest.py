"""The part of pytest's API that the dual-runtime tests use, for the MicroPython VM."""


class raises:
    def __init__(self, exc, match=None):
        self.exc = exc
        self.match = match
        self.value = None

    def __enter__(self):
        return self

    def __exit__(self, typ, value, tb):
        if typ is None:
            raise AssertionError("DID NOT RAISE %s" % self.exc)
        if not issubclass(typ, self.exc):
            return False
        if self.match is not None and self.match not in str(value):
            raise AssertionError("%r does not contain %r" % (str(value), self.match))
        self.value = value
        return True


PARAMS = {}  # test function -> parameter sets (MicroPython functions take no attributes)


class _Mark:
    def parametrize(self, names, values):
        def deco(fn):
            PARAMS[fn] = values
            return fn
        return deco


mark = _Mark()
