"""The import graph of firmware/ (issue 20): no cycles, and every import along the layers
(DEVELOPERS.md, "Layers"). Read from the source with ast, imports inside functions
included (the firmware imports its optional parts on use), and `__import__` of a module
name written as a string.

- core imports only core; drivers import core and drivers; boards nothing of ours;
- services import core, drivers and services, never the app or diag; the app anything
  but diag; diag (REPL diagnostics) anything;
- inside services, `platform/` imports only platform, `net/` platform and net,
  `charging/` none of the other packages, every other package platform, net and itself;
- a package's `__init__.py` imports nothing (importing a package costs nothing).
"""
import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIRMWARE = os.path.join(ROOT, "firmware")

# services package -> the service packages it may import besides itself
SERVICE_LAYERS = {"platform": (), "net": ("platform",), "charging": ()}
SERVICE_DEFAULT = ("platform", "net")


def _modules():
    """{dotted name: path} of every firmware module (packages by their __init__.py)."""
    mods = {}
    for d, dirs, files in os.walk(FIRMWARE):
        dirs.sort()
        for f in sorted(files):
            if f.endswith(".py"):
                rel = os.path.relpath(os.path.join(d, f), ROOT)[:-3].replace(os.sep, ".")
                mods[rel[:-9] if rel.endswith(".__init__") else rel] = os.path.join(d, f)
    return mods


def _package_dirs():
    """Dotted names of the folders under firmware/ (packages with or without __init__)."""
    out = {"firmware"}
    for d, _, _ in os.walk(FIRMWARE):
        out.add(os.path.relpath(d, ROOT).replace(os.sep, "."))
    return out


def _imports(path, name, mods, dirs):
    """The firmware modules (or packages) `name` imports, anywhere in its file."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    strings = {}  # module-level NAME = "..." (for __import__(NAME))
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and \
                isinstance(node.value.value, str):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    strings[t.id] = node.value.value
    is_pkg = path.endswith("__init__.py")
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's package
                parts = name.split(".")[:len(name.split(".")) - node.level + is_pkg]
                base = ".".join(parts + ([base] if base else []))
            for a in node.names:
                sub = base + "." + a.name
                out.add(sub if sub in mods or sub in dirs else base)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                node.func.id == "__import__" and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant):
                out.add(arg.value)
            elif isinstance(arg, ast.Name) and arg.id in strings:
                out.add(strings[arg.id])
    return {m for m in out if m == "firmware" or m.startswith("firmware.")}


def _graph():
    mods = _modules()
    dirs = _package_dirs()
    return {name: _imports(path, name, mods, dirs) for name, path in mods.items()}, mods, dirs


def test_every_import_names_a_firmware_module():
    graph, mods, dirs = _graph()
    unknown = ["%s imports %s" % (m, d) for m, deps in sorted(graph.items())
               for d in sorted(deps) if d not in mods and d not in dirs]
    assert not unknown, unknown


def test_no_import_cycles():
    graph, _, _ = _graph()
    cycles = []
    state = {}  # module -> 1 on the current path, 2 done
    path = []

    def visit(m):
        state[m] = 1
        path.append(m)
        for d in sorted(graph.get(m, ())):
            if state.get(d) == 1:
                cycles.append(" -> ".join(path[path.index(d):] + [d]))
            elif d not in state:
                visit(d)
        path.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert not cycles, cycles


def _area(m):
    parts = m.split(".")
    return parts[1] if len(parts) > 1 else ""


def _allowed(m, d):
    """Whether module m may import d under the layering."""
    area, target = _area(m), _area(d)
    if area == "diag":  # REPL diagnostics: the top, never imported
        return target != "diag"
    if area == "app":
        return target not in ("app", "diag")
    if target in ("app", "diag"):
        return False
    if area == "core":
        return target == "core"
    if area == "drivers":
        return target in ("core", "drivers")
    if area == "boards":
        return target == "boards"
    if area == "services":
        if target in ("core", "drivers"):
            return True
        if target != "services":
            return False
        pkg, dpkg = m.split(".")[2:3], d.split(".")[2:3]
        if not pkg or not dpkg:  # services/__init__.py or the services package itself
            return not pkg
        pkg, dpkg = pkg[0], dpkg[0]
        return dpkg == pkg or dpkg in SERVICE_LAYERS.get(pkg, SERVICE_DEFAULT)
    return False


def test_imports_follow_the_layers():
    graph, _, _ = _graph()
    wrong = ["%s imports %s" % (m, d) for m, deps in sorted(graph.items())
             for d in sorted(deps) if not _allowed(m, d)]
    assert not wrong, wrong


def test_package_init_files_import_nothing():
    graph, mods, _ = _graph()
    heavy = {m: sorted(deps) for m, deps in graph.items()
             if mods[m].endswith("__init__.py") and deps}
    assert not heavy, heavy


def test_the_graph_sees_imports_inside_functions_and_by_name():
    """The scan itself: app.py imports the backend inside a method, its link loads
    its CALL handlers with __import__ and a module-level name."""
    graph, _, _ = _graph()
    assert "firmware.services.ocpp.backend" in graph["firmware.app"]
    assert "firmware.services.ocpp.calls" in graph["firmware.services.ocpp.link"]
