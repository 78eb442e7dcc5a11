"""Every file a service keeps for the user is in the factory reset's own list
(services/platform/config._USER), so that it is deleted even when that service does not run."""
import ast
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FILES = {"web/server.py": ["ACCOUNT"], "rfid/service.py": ["PATH"],
         "ocpp/backend.py": ["STATE", "LIST", "QUEUE", "ACKS"]}


def test_every_service_file_is_deleted_by_a_factory_reset():
    with open(os.path.join(ROOT, "firmware", "services", "platform", "config.py")) as f:
        user = ast.literal_eval(re.search(r"^_USER = (\(.*\))$", f.read(), re.M).group(1))
    for module, names in FILES.items():
        with open(os.path.join(ROOT, "firmware", "services", module)) as f:
            src = f.read()
        registered = re.findall(r"user_files\.(?:append|extend)\((.*)\)", src)
        assert registered, module
        for name in names:
            assert name in registered[0] or (name == "PATH" and registered[0] == "path"), \
                (module, name)  # rfid registers its path argument, PATH by default
            value = _defined(module, name)
            assert value in user, (module, name, value)


def _defined(module, name):
    """The string constant `name` as the module's package defines it (in the module
    itself or in a module beside it that it imports it from)."""
    folder = os.path.join(ROOT, "firmware", "services", os.path.dirname(module))
    for f in [os.path.basename(module)] + sorted(os.listdir(folder)):
        if f.endswith(".py"):
            with open(os.path.join(folder, f)) as fh:
                m = re.search(r"^%s = \"([^\"]+)\"" % name, fh.read(), re.M)
            if m:
                return m.group(1)
    raise AssertionError((module, name, "not defined"))
