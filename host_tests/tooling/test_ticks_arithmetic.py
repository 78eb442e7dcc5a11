"""No arithmetic on tick values in the firmware (issue 13.3): the boards' ms and us
counters wrap at 2**30, so a deadline is ticks_add(t, delta) and an interval
ticks_diff(a, b), never `+` or `-` on a tick value.

A tick value is a call to ticks_ms/ticks_us/ticks_cpu/ticks_add, or a name or attribute
that the same module assigns from one (`t0 = ticks_ms()`, `self._retry_at = ...`).
"""
import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIRMWARE = os.path.join(ROOT, "firmware")
_SOURCES = ("ticks_ms", "ticks_us", "ticks_cpu", "ticks_add")


def _name(node):
    """The called or named identifier: f(), mod.f(), x, self.x."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _is_source(node):
    return isinstance(node, ast.Call) and _name(node) in _SOURCES


def tick_holders(tree):
    """Names and attributes assigned from a tick source anywhere in the module."""
    held = set()
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Assign) and _is_source(node.value)):
            continue
        for t in node.targets:
            for leaf in ast.walk(t):  # a = b = ticks_ms(), attributes of attributes
                if isinstance(leaf, (ast.Name, ast.Attribute)) and \
                        isinstance(leaf.ctx, ast.Store):
                    held.add(_name(leaf))
    return held


def tick_arithmetic(source, path="<source>"):
    """(path, line, text) of each + or - with a tick value as an operand."""
    tree = ast.parse(source)
    held = tick_holders(tree)

    def ticky(node):
        if _is_source(node):
            return True
        return isinstance(node, (ast.Name, ast.Attribute)) and _name(node) in held

    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
            operands = (node.left, node.right)
        elif isinstance(node, ast.AugAssign) and isinstance(node.op, (ast.Add, ast.Sub)):
            operands = (node.target, node.value)
        else:
            continue
        if any(ticky(x) for x in operands):
            found.append((path, node.lineno, ast.get_source_segment(source, node)))
    return found


def firmware_files():
    for d, _, names in os.walk(FIRMWARE):
        for n in sorted(names):
            if n.endswith(".py"):
                yield os.path.join(d, n)


@pytest.mark.parametrize("text, bad", [
    ("t = ticks_ms() + 5000", True),
    ("t = time.ticks_ms() - 1", True),
    ("self.at = ticks_ms()\nx = self.at + 10", True),
    ("t0 = ticks_us()\nt0 += 3", True),
    ("due = ticks_add(now, 5)\nlate = due - now", True),
    ("t = ticks_add(ticks_ms(), 5000)", False),
    ("d = ticks_diff(ticks_ms(), t0)", False),
    ("n = count + 1", False),
])
def test_the_scan_finds_tick_arithmetic(text, bad):
    assert bool(tick_arithmetic(text)) is bad


def test_no_arithmetic_on_tick_values_in_the_firmware():
    found = []
    for path in firmware_files():
        with open(path) as f:
            found += tick_arithmetic(f.read(), os.path.relpath(path, ROOT))
    assert found == []
