"""Resolve names in parsed conditions and bring them to negation normal form.

The output is engine-free plain data: ``Atom`` (one fact compared with constants), ``All``,
``AnyOf`` and ``Const``. Negations are pushed into the atoms (``not sbp >= 140`` becomes
``sbp < 140``), which is exactly three-valued (Kleene) logic when an atom on an absent fact is
*unknown*: a rule fires iff its condition is true with unknown atoms read as false, and it is
undetermined iff it is not fired but would be with unknown atoms read as true.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .conditions import Arith, BoolLit, Compare, Logic, Member, Name, Node, Presence
from .errors import IssueCode, ReferralRulesError, closest_name
from .operators import OPS

__all__ = ["All", "AnyOf", "Atom", "BindError", "Const", "Expr", "FactInfo", "Scope", "bind"]

Scalar = int | float | str | bool



class BindError(ReferralRulesError, ValueError):
    """A name or type problem at ``offset`` in a condition."""

    def __init__(
        self, message: str, offset: int, code: IssueCode, suggestion: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset
        self.code = code
        self.suggestion = suggestion


@dataclass(frozen=True)
class Atom:
    """``fact op value``; op in < <= > >= == != in not_in present absent."""

    fact: str
    op: str
    value: Scalar | tuple[Scalar, ...] | None = None

    def negated(self) -> Atom:
        return Atom(self.fact, OPS[self.op].negation, self.value)

    @property
    def number(self) -> float:
        """The numeric constant of a comparison atom."""
        value = self.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            msg = f"{self} has no numeric value"
            raise TypeError(msg)
        return float(value)


@dataclass(frozen=True)
class All:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class AnyOf:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Const:
    value: bool


Expr = Atom | All | AnyOf | Const


@dataclass(frozen=True)
class FactInfo:
    """What binding needs to know of a fact (vocabulary or computed definition)."""

    type: str  # number | integer | boolean | enum
    values: tuple[str, ...] = ()
    unit: str | None = None
    range: tuple[float, float] | None = None


@dataclass
class Scope:
    """Names visible in one ruleset's conditions."""

    facts: Mapping[str, FactInfo]
    values: Mapping[str, Scalar]  # named thresholds
    condition: Callable[[str], Expr | None]  # named condition by name (binds lazily)
    conditions: tuple[str, ...] = ()  # the named conditions' names, for suggestions

    def suggest(self, name: str, pool: list[str]) -> str | None:
        close = closest_name(name, pool)
        return f"did you mean '{close}'?" if close else None

    def all_names(self) -> list[str]:
        return sorted({*self.facts, *self.values, *self.conditions})


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _const(scope: Scope, fact: str, info: FactInfo, value: Scalar | Name, op: str,
           offset: int) -> Scalar:
    """Resolve and type-check the constant side of a comparison with ``fact``."""
    if isinstance(value, Name):
        if info.type == "enum" and value.name in info.values:
            resolved: Scalar = value.name
        elif value.name in scope.values:
            resolved = scope.values[value.name]
        elif value.name in scope.facts:
            msg = f"'{value.name}' is a fact; compare a fact with a number or a named threshold"
            raise BindError(msg, value.offset, "type-mismatch")
        else:
            pool = list(info.values) + list(scope.values)
            hint = scope.suggest(value.name, pool)
            if info.type == "enum":
                allowed = ", ".join(info.values)
                msg = f"'{value.name}' is not an allowed value of '{fact}' ({allowed})"
                raise BindError(msg, value.offset, "unknown-value", hint)
            msg = f"unknown name '{value.name}': not a named threshold of this ruleset"
            raise BindError(msg, value.offset, "unknown-name", hint)
    else:
        resolved = value
    if info.type in ("number", "integer"):
        if not _is_number(resolved):
            msg = f"'{fact}' is a number ({info.unit or 'no unit'}); got {resolved!r}"
            raise BindError(msg, offset, "type-mismatch", "compare it with a number")
    elif info.type == "boolean":
        if not isinstance(resolved, bool):
            msg = f"'{fact}' is true or false; got {resolved!r}"
            raise BindError(msg, offset, "type-mismatch", f"write '{fact}' or 'not {fact}'")
        if op not in ("==", "!="):
            msg = f"'{fact}' is true or false and cannot be compared with '{op}'"
            raise BindError(msg, offset, "type-mismatch")
    else:
        if not isinstance(resolved, str) or resolved not in info.values:
            allowed = ", ".join(info.values)
            msg = f"{resolved!r} is not an allowed value of '{fact}' ({allowed})"
            pool = [v for v in info.values]
            hint = scope.suggest(str(resolved), pool)
            raise BindError(msg, offset, "unknown-value", hint)
        if op not in ("==", "!=", "in", "not_in"):
            msg = f"'{fact}' takes named values and cannot be compared with '{op}'"
            raise BindError(msg, offset, "type-mismatch", "use == or in [...]")
    return resolved


def _fact(scope: Scope, name: str, offset: int) -> FactInfo:
    info = scope.facts.get(name)
    if info is not None:
        return info
    if name in scope.values:
        msg = f"'{name}' is a named threshold, not a fact; put the fact on the left"
        raise BindError(msg, offset, "type-mismatch")
    hint = scope.suggest(name, scope.all_names())
    msg = f"unknown fact '{name}'"
    raise BindError(msg, offset, "unknown-fact", hint)


def bind(node: Node, scope: Scope) -> Expr:
    """Bind ``node`` in ``scope`` and return it in negation normal form."""
    return _bind(node, scope, negate=False)


def _bind(node: Node, scope: Scope, negate: bool) -> Expr:
    if isinstance(node, BoolLit):
        return Const(node.value != negate)
    if isinstance(node, Logic):
        if node.op == "not":
            return _bind(node.items[0], scope, not negate)
        items = tuple(_bind(item, scope, negate) for item in node.items)
        use_all = (node.op == "and") != negate
        return All(items) if use_all else AnyOf(items)
    if isinstance(node, Name):
        info = scope.facts.get(node.name)
        if info is not None and info.type == "boolean":
            atom = Atom(node.name, "==", True)
            return atom.negated() if negate else atom
        cond = scope.condition(node.name)
        if cond is not None:
            return negate_expr(cond) if negate else cond
        if info is not None:
            msg = f"'{node.name}' is a {info.type} fact, not a condition"
            how = (f"compare it, e.g. '{node.name} >= ...'" if info.type != "enum"
                   else f"write '{node.name} == {info.values[0]}'")
            raise BindError(msg, node.offset, "type-mismatch", how)
        if node.name in scope.values:
            msg = f"'{node.name}' is a named threshold, not a condition"
            raise BindError(msg, node.offset, "type-mismatch",
                            f"compare a fact with it, e.g. 'fact >= {node.name}'")
        hint = scope.suggest(node.name, scope.all_names())
        msg = f"unknown fact or condition '{node.name}'"
        raise BindError(msg, node.offset, "unknown-fact", hint)
    if isinstance(node, Compare):
        info = _fact(scope, node.left, node.offset)
        value = _const(scope, node.left, info, node.right, node.op, node.offset)
        if info.type == "boolean" and node.op == "!=":
            atom = Atom(node.left, "==", not value)
        elif info.type == "boolean":
            atom = Atom(node.left, "==", value)
        else:
            atom = Atom(node.left, node.op, value)
        return atom.negated() if negate else atom
    if isinstance(node, Member):
        info = _fact(scope, node.left, node.offset)
        if info.type == "boolean":
            msg = f"'{node.left}' is true or false; 'in [...]' needs a named-value fact"
            raise BindError(msg, node.offset, "type-mismatch")
        op = "not_in" if node.negated else "in"
        values = tuple(sorted({_const(scope, node.left, info, v, op, node.offset)
                               for v in node.values}, key=repr))
        atom = Atom(node.left, op, values)
        return atom.negated() if negate else atom
    if isinstance(node, Presence):
        _fact(scope, node.fact, node.offset)
        atom = Atom(node.fact, "present" if node.present else "absent")
        return atom.negated() if negate else atom
    msg = f"unexpected node {node!r}"  # pragma: no cover - parser makes no other nodes
    raise TypeError(msg)


def negate_expr(expr: Expr) -> Expr:
    """The negation of a bound expression, still in negation normal form."""
    if isinstance(expr, Atom):
        return expr.negated()
    if isinstance(expr, Const):
        return Const(not expr.value)
    if isinstance(expr, All):
        return AnyOf(tuple(negate_expr(i) for i in expr.items))
    return All(tuple(negate_expr(i) for i in expr.items))


def facts_of(expr: Expr) -> list[str]:
    """Facts an expression reads, in order of first appearance."""
    seen: dict[str, None] = {}

    def walk(e: Expr) -> None:
        if isinstance(e, Atom):
            seen.setdefault(e.fact, None)
        elif isinstance(e, All | AnyOf):
            for item in e.items:
                walk(item)

    walk(expr)
    return list(seen)


def thresholds_of(expr: Expr) -> list[Atom]:
    """Numeric comparison atoms (for coverage: a case on and just past each threshold)."""
    out: list[Atom] = []

    def walk(e: Expr) -> None:
        if isinstance(e, Atom):
            if e.op in ("<", "<=", ">", ">=") and _is_number(e.value):
                out.append(e)
        elif isinstance(e, All | AnyOf):
            for item in e.items:
                walk(item)

    walk(expr)
    return out


def arith_names(node: Arith | Name | float | int) -> list[Name]:
    """Names used in an arithmetic expression."""
    if isinstance(node, Name):
        return [node]
    if isinstance(node, Arith):
        return arith_names(node.left) + arith_names(node.right)
    return []
