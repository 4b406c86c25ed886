"""Compile: the linked rules as durable_rules ruleset JSON, and as plain Python matchers.

Both outputs come from the same negation-normal-form conditions. The engine is told each rule
only by its index (``r0``, ``r1``, ...); everything the rule says stays in the ``Bundle``.
Python source is generated only from validated names (``[a-z][a-z0-9_]*``) and ``repr`` of
validated constants; nothing a ruleset author writes is executed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from .bind import All, AnyOf, Atom, Const, Expr
from .ir import CompiledRule

__all__ = ["INIT_RULE", "RESERVED", "kleene", "python_matchers", "rule_name", "to_durable"]

RESERVED = "_rr"  # a constant property added to every asserted fact
INIT_RULE = "init"
_DURABLE_OPS = {"<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte", "!=": "$neq"}


def rule_name(index: int) -> str:
    """The engine's name for the rule at ``index``."""
    return f"r{index}"


def _durable(expr: Expr) -> dict[str, Any]:
    if isinstance(expr, Const):
        return {RESERVED: 1 if expr.value else 2}
    if isinstance(expr, All | AnyOf):
        items = [_durable(i) for i in expr.items]
        if len(items) == 1:
            return items[0]
        return {"$and" if isinstance(expr, All) else "$or": items}
    f, op, v = expr.fact, expr.op, expr.value
    if op == "==":
        return {f: v}
    if op in _DURABLE_OPS:
        return {_DURABLE_OPS[op]: {f: v}}
    if op == "present":
        return {"$ex": {f: 1}}
    if op == "absent":
        return {"$nex": {f: 1}}
    assert isinstance(v, tuple)
    if op == "in":
        return {"$or": [{f: x} for x in v]} if len(v) > 1 else {f: v[0]}
    return {"$and": [{"$neq": {f: x}} for x in v]} if len(v) > 1 else {"$neq": {f: v[0]}}


def to_durable(rules: Iterable[CompiledRule]) -> str:
    """The durable_rules ruleset JSON for ``rules`` (one rule per fact pattern)."""
    ruleset = {rule_name(r.index): {"all": [{"m": _durable(r.expr)}]} for r in rules}
    # A rule only the engine wrapper's start-up fact matches: a session whose state was created
    # by a match can later be deleted safely (delete_state aborts the process otherwise).
    ruleset[INIT_RULE] = {"all": [{"m": {RESERVED: 3}}]}
    return json.dumps(ruleset, ensure_ascii=False, sort_keys=True)


def _py(expr: Expr, var: dict[str, str], optimistic: bool) -> str:
    if isinstance(expr, Const):
        return "True" if expr.value else "False"
    if isinstance(expr, All | AnyOf):
        joiner = " and " if isinstance(expr, All) else " or "
        return "(" + joiner.join(_py(i, var, optimistic) for i in expr.items) + ")"
    v = var[expr.fact]
    if expr.op == "present":
        return f"({v} is not None)"
    if expr.op == "absent":
        return f"({v} is None)"
    if expr.op in ("in", "not_in"):
        test = f"{v} {'in' if expr.op == 'in' else 'not in'} {expr.value!r}"
    else:
        test = f"{v} {expr.op} {expr.value!r}"
    return f"({v} is None or {test})" if optimistic else f"({v} is not None and {test})"


Matcher = Callable[[dict[str, Any]], list[int]]
Classifier = Callable[[dict[str, Any]], tuple[list[int], list[int]]]


def python_matchers(rules: Iterable[CompiledRule]) -> tuple[Matcher, Matcher, Classifier, str]:
    """Generate ``fired(facts)`` and ``possible(facts)`` (rule indexes whose condition is true
    with unknown atoms read as false, and as true) and ``classify(facts)`` (fired, and
    undetermined = possible but not fired, in one pass). Returns them and their source."""
    rules = list(rules)
    facts = sorted({a for r in rules for a in _atoms_facts(r.expr)})
    var = {f: f"v{i}" for i, f in enumerate(facts)}
    loads = ["    g = f.get", *(f"    {var[fact]} = g({fact!r})" for fact in facts)]
    lines = []
    for name, optimistic in (("fired", False), ("possible", True)):
        lines += [f"def {name}(f):", *loads, "    out = []"]
        for r in rules:
            lines.append(f"    if {_py(r.expr, var, optimistic)}: out.append({r.index})")
        lines += ["    return out", ""]
    lines += ["def classify(f):", *loads, "    out = []", "    unknown = []"]
    for r in rules:
        lines.append(f"    if {_py(r.expr, var, False)}: out.append({r.index})")
        lines.append(f"    elif {_py(r.expr, var, True)}: unknown.append({r.index})")
    lines += ["    return out, unknown", ""]
    source = "\n".join(lines)
    namespace: dict[str, Any] = {}
    # Generated from validated names and repr() of validated constants only (module docstring).
    exec(compile(source, "<referral_rules generated matcher>", "exec"), namespace)
    return namespace["fired"], namespace["possible"], namespace["classify"], source


def _atoms_facts(expr: Expr) -> Iterable[str]:
    if isinstance(expr, Atom):
        yield expr.fact
    elif isinstance(expr, All | AnyOf):
        for item in expr.items:
            yield from _atoms_facts(item)


_CMP: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda a, b: bool(a < b), "<=": lambda a, b: bool(a <= b),
    ">": lambda a, b: bool(a > b), ">=": lambda a, b: bool(a >= b),
    "==": lambda a, b: bool(a == b), "!=": lambda a, b: bool(a != b),
    "in": lambda a, b: a in b, "not_in": lambda a, b: a not in b,
}


def kleene(expr: Expr, facts: dict[str, Any]) -> bool | None:
    """Three-valued value of ``expr``: True, False or None (unknown: a fact is absent)."""
    if isinstance(expr, Const):
        return expr.value
    if isinstance(expr, Atom):
        value = facts.get(expr.fact)
        if expr.op == "present":
            return value is not None
        if expr.op == "absent":
            return value is None
        if value is None:
            return None
        return _CMP[expr.op](value, expr.value)
    results = [kleene(i, facts) for i in expr.items]
    if isinstance(expr, All):
        if False in results:
            return False
        return None if None in results else True
    if True in results:
        return True
    return None if None in results else False
