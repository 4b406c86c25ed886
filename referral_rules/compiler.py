"""Compile: the linked rules as durable_rules ruleset JSON, and as plain Python.

Three outputs, all from the same negation-normal-form conditions and the one operator table
(``operators.py``):

- **durable_rules JSON**: for every rule a rule ``d<i>`` for its condition and a rule ``f<i>``
  for the negation of its condition, both true only on recorded facts, so one assertion of a
  patient tells which rules are true, which are false, and which are neither (undetermined by
  unrecorded facts): three-valued (Kleene) logic inside the Rete network. (Reading unknown atoms
  as true instead would need ``absent or test`` per atom, which durable_rules expands into an
  exponential number of paths.)
- **Python matchers** of the same rules (the independent oracle, and the ``python`` backend).
- **the record preparation** (``python_prepare``): derived facts, computed values, each
  ruleset's scope and the policy's bypass condition, worked out in one generated function.

The engine is told each rule only by its index; everything a rule says stays in the
``Bundle``. Python source is generated only from validated names (``[a-z][a-z0-9_]*``) and
``repr`` of validated constants; nothing a ruleset author writes is executed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .bind import All, AnyOf, Atom, Const, Expr, facts_of, negate_expr
from .conditions import Arith, Name
from .errors import FactIssue, FactsError
from .ir import Bundle, CompiledRule, Computed, Derived
from .operators import OPS

__all__ = [
    "INIT_RULE",
    "RESERVED",
    "Prepare",
    "kleene",
    "python_matchers",
    "python_prepare",
    "rule_name",
    "to_durable",
]

RESERVED = "_rr"  # a constant property added to every asserted fact
INIT_RULE = "init"


def rule_name(index: int, negated: bool = False) -> str:
    """The engine's name for the rule at ``index`` (its condition, or its negation)."""
    return f"{'f' if negated else 'd'}{index}"


# --- durable_rules -------------------------------------------------------------------------------

def _durable_atom(atom: Atom) -> dict[str, Any]:
    f, op, v = atom.fact, atom.op, atom.value
    if op == "==":
        return {f: v}
    if op == "present":
        return {"$ex": {f: 1}}
    if op == "absent":
        return {"$nex": {f: 1}}
    if op in ("in", "not_in"):
        assert isinstance(v, tuple)
        if op == "in":
            return {"$or": [{f: x} for x in v]} if len(v) > 1 else {f: v[0]}
        neq = OPS["!="].durable
        assert neq is not None
        return {"$and": [{neq: {f: x}} for x in v]} if len(v) > 1 else {neq: {f: v[0]}}
    durable = OPS[op].durable
    assert durable is not None
    return {durable: {f: v}}


def _durable(expr: Expr) -> dict[str, Any]:
    if isinstance(expr, Const):
        return {RESERVED: 1 if expr.value else 2}
    if isinstance(expr, All | AnyOf):
        items = [_durable(i) for i in expr.items]
        if len(items) == 1:
            return items[0]
        return {"$and" if isinstance(expr, All) else "$or": items}
    return _durable_atom(expr)


def to_durable(rules: Iterable[CompiledRule]) -> str:
    """The durable_rules ruleset JSON for ``rules``: each rule's condition and its negation."""
    ruleset: dict[str, Any] = {}
    for r in rules:
        ruleset[rule_name(r.index)] = {"all": [{"m": _durable(r.expr)}]}
        ruleset[rule_name(r.index, True)] = {"all": [{"m": _durable(negate_expr(r.expr))}]}
    # A rule only the engine wrapper's start-up fact matches: a session whose state was created
    # by a match can later be deleted safely (delete_state aborts the process otherwise).
    ruleset[INIT_RULE] = {"all": [{"m": {RESERVED: 3}}]}
    return json.dumps(ruleset, ensure_ascii=False, sort_keys=True)


# --- Python --------------------------------------------------------------------------------------

def _py(expr: Expr, var: dict[str, str], optimistic: bool) -> str:
    """A Python boolean expression for ``expr``; unknown atoms read as ``optimistic``."""
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
    test = f"{v} {OPS[expr.op].python} {expr.value!r}"
    return f"({v} is None or {test})" if optimistic else f"({v} is not None and {test})"


Matcher = Callable[[dict[str, Any]], list[int]]
Classifier = Callable[[dict[str, Any]], tuple[list[int], list[int]]]


def _compile(source: str, name: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"_range_error": _range_error}
    # Generated from validated names and repr() of validated constants only (module docstring).
    exec(compile(source, f"<referral_rules generated {name}>", "exec"), namespace)
    return namespace


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
    namespace = _compile(source, "matcher")
    return namespace["fired"], namespace["possible"], namespace["classify"], source


def _atoms_facts(expr: Expr) -> Iterable[str]:
    if isinstance(expr, Atom):
        yield expr.fact
    elif isinstance(expr, All | AnyOf):
        for item in expr.items:
            yield from _atoms_facts(item)


def kleene(expr: Expr, facts: dict[str, Any]) -> bool | None:
    """Three-valued value of ``expr``: True, False or None (unknown: a fact is absent)."""
    if isinstance(expr, Const):
        return expr.value
    if isinstance(expr, Atom):
        value = facts.get(expr.fact)
        if expr.op in ("present", "absent"):
            return OPS[expr.op].test(value, None)
        if value is None:
            return None
        return OPS[expr.op].test(value, expr.value)
    results = [kleene(i, facts) for i in expr.items]
    if isinstance(expr, All):
        if False in results:
            return False
        return None if None in results else True
    if True in results:
        return True
    return None if None in results else False


# --- the record preparation ------------------------------------------------------------------

#: ``prepare(record) -> (record, derived, scopes, bypass)``: the record with derived facts and
#: computed values added (a new dict), which derivation piece gave each derived fact, each
#: ruleset's scope (``applies`` / ``unknown`` / ``not_applicable``, in bundle order) and whether
#: the policy's bypass condition is true.
Prepare = Callable[[dict[str, Any]],
                   tuple[dict[str, Any], list[tuple[str, int]], tuple[str, ...], bool]]


def _range_error(name: str, value: float, lo: float, hi: float, inputs: str) -> None:
    msg = f"derived '{name}' = {value:g} is outside {lo:g}..{hi:g}; check {inputs}"
    raise FactsError([FactIssue(name, "out-of-range", msg)])


class _Writer:
    """Python source for ``prepare``: every fact is a local variable, loaded once at the start
    and updated when a value is derived, so later derivations see it."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}

    def var(self, fact: str) -> str:
        return self.names.setdefault(fact, f"v{len(self.names)}")

    def loads(self) -> list[str]:
        return [f"    {v} = get({fact!r})" for fact, v in self.names.items()]

    def test(self, expr: Expr, optimistic: bool) -> str:
        facts = {f: self.var(f) for f in _atoms_facts(expr)}
        return _py(expr, facts, optimistic)

    def arith(self, node: Arith | Name | float | int,
              values: dict[str, Any]) -> tuple[str, set[str]]:
        """An expression that is None when an input is unknown (or a division by zero)."""
        if isinstance(node, Name):
            if node.name in values:
                return repr(float(values[node.name])), set()
            return f"_n({self.var(node.name)})", {node.name}
        if isinstance(node, int | float):
            return repr(float(node)), set()
        left, lf = self.arith(node.left, values)
        right, rf = self.arith(node.right, values)
        op = node.op
        if op == "/":
            return f"_div({left}, {right})", lf | rf
        return f"_op({left}, {right}, {op!r})", lf | rf

    def assign(self, indent: str, name: str, expr: str, type_: str,
               bounds: tuple[float, float] | None, inputs: Sequence[str]) -> list[str]:
        lo, hi = bounds or (-math.inf, math.inf)
        # whole numbers for integer facts; other results lose float noise (8.006720000000001)
        cast = "round(_v)" if type_ == "integer" else "round(_v, 6)"
        return [
            f"{indent}_v = {expr}",
            f"{indent}if _v is not None:",
            f"{indent}    _v = {cast}",
            f"{indent}    if not {lo!r} <= _v <= {hi!r}:",
            f"{indent}        _range_error({name!r}, _v, {lo!r}, {hi!r}, "
            f"{', '.join(inputs)!r})",
            f"{indent}    out[{name!r}] = {self.var(name)} = _v",
        ]


def _guard(exprs: Sequence[Expr], facts: Iterable[str]) -> str:
    """`` and (a is not None or b is not None …)`` when ``exprs`` are all unknown with none of
    ``facts`` recorded (so the block can be skipped on a sparse record), else ``""``."""
    names = list(dict.fromkeys(facts))
    if not names or any(kleene(e, {}) is not None for e in exprs):
        return ""
    return " and (" + " or ".join(f"{n} is not None" for n in names) + ")"


def _derived_code(w: _Writer, item: Derived) -> list[str]:
    first_when = [item.pieces[0].when] if item.pieces else []
    guard = _guard(first_when, [w.var(f) for f in facts_of(first_when[0])]) if first_when else ""
    lines = [f"    if {item.fact!r} not in out{guard}:"]
    first = True
    for index, piece in enumerate(item.pieces):
        definite, possible = w.test(piece.when, False), w.test(piece.when, True)
        lines.append(f"        {'if' if first else 'elif'} {definite}:")
        first = False
        if piece.arith is not None:
            expr, _ = w.arith(piece.arith, {})
            body = w.assign("            ", item.fact, expr, item.info.type, item.info.range,
                            piece.inputs)
            lines += body
            lines.append(f"            if {item.fact!r} in out: derived.append(({item.fact!r}, "
                         f"{index}))")
        else:
            lines.append(f"            out[{item.fact!r}] = {w.var(item.fact)} = {piece.value!r}")
            lines.append(f"            derived.append(({item.fact!r}, {index}))")
        lines.append(f"        elif {possible}:")
        lines.append("            pass  # unknown: a later piece cannot apply")
    return lines


def _computed_code(w: _Writer, item: Computed, values: dict[str, Any]) -> list[str]:
    lines = [f"    if {item.name!r} not in out:"]
    if item.arith is not None:
        expr, _ = w.arith(item.arith, values)
        lines.append(f"        _c = {expr}")
    else:
        lines.append("        _c = None")
        first = True
        for expr_, value in item.pieces:
            definite, possible = w.test(expr_, False), w.test(expr_, True)
            lines.append(f"        {'if' if first else 'elif'} {definite}:")
            lines.append(f"            _c = {float(value)!r}")
            lines.append(f"        elif {possible}:")
            lines.append("            pass")
            first = False
    if item.otherwise is not None:
        lines.append(f"        if _c is None: _c = _n({w.var(item.otherwise)})")
    lines += w.assign("        ", item.name, "_c", item.info.type, item.info.range, item.inputs)
    return lines


def python_prepare(bundle: Bundle) -> tuple[Prepare, str]:
    """Generate the record preparation for ``bundle`` (see ``Prepare``); return it and its
    source."""
    w = _Writer()
    helpers = [
        "def _n(x):",
        "    return None if x is None else float(x)",
        "def _div(a, b):",
        "    return None if a is None or b is None or b == 0 else a / b",
        "def _op(a, b, op):",
        "    if a is None or b is None: return None",
        "    return a + b if op == '+' else a - b if op == '-' else a * b",
    ]
    body: list[str] = []
    lines = body  # the body is written first; the loads of every name it uses go before it
    for item in bundle.derived:
        lines += _derived_code(w, item)
    for rs in bundle.rulesets.values():
        for computed in rs.computed:
            lines += _computed_code(w, computed, dict(rs.values))
    scopes = []
    for i, rs in enumerate(bundle.rulesets.values()):
        definite, possible = w.test(rs.scope, False), w.test(rs.scope, True)
        guard = _guard([rs.scope], [w.var(f) for f in facts_of(rs.scope)])
        test = f"'applies' if {definite} else 'unknown' if {possible} else 'not_applicable'"
        if guard:  # nothing recorded that the scope reads: unknown
            test = f"({test}) if True{guard} else 'unknown'"
        lines.append(f"    s{i} = {test}")
        scopes.append(f"s{i}")
    lines.append(f"    bypass = {w.test(bundle.policy.bypass, False)}")
    lines.append(f"    return out, derived, ({', '.join(scopes)}{',' if scopes else ''}), bypass")
    head = [*helpers, "def prepare(f):", "    out = dict(f)", "    get = out.get",
            "    derived = []", *w.loads()]
    source = "\n".join([*head, *body]) + "\n"
    prepare: Prepare = _compile(source, "prepare")["prepare"]
    return prepare, source
