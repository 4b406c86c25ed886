"""Derive: facts that follow from recorded facts, and computed values, added before matching.

Two kinds, worked out in this order:

- **derived facts** (``derive:`` in facts.yaml): a vocabulary fact that is not recorded gets the
  value of the first piece whose ``when`` is true (a thermometer reading answers "temperature
  normal?", a man is not pregnant). A recorded value always wins. A piece whose ``when`` is
  unknown stops the search: a later piece cannot know the earlier one would not have applied.
- **computed values** (``compute:`` definitions of a ruleset, e.g. a HEART score from its items).

Both are checked against their plausible range: an impossible result names the facts it came
from, never a silent value.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from .compiler import kleene
from .conditions import Arith, Name
from .errors import FactIssue, FactsError
from .ir import Computed, Derived

__all__ = ["derive", "derive_facts"]


def _arith(node: Arith | Name | float | int, facts: dict[str, Any],
           values: dict[str, Any]) -> float | None:
    if isinstance(node, Name):
        value = facts.get(node.name, values.get(node.name))
        return None if value is None else float(value)
    if isinstance(node, int | float):
        return float(node)
    left = _arith(node.left, facts, values)
    right = _arith(node.right, facts, values)
    if left is None or right is None:
        return None
    if node.op == "+":
        return left + right
    if node.op == "-":
        return left - right
    if node.op == "*":
        return left * right
    return None if right == 0 else left / right


def _checked(name: str, result: float, type_: str, bounds: tuple[float, float] | None,
             inputs: Iterable[str]) -> int | float:
    lo, hi = bounds or (-math.inf, math.inf)
    result = round(result) if type_ == "integer" else round(result, 6)
    if not lo <= result <= hi:
        msg = (f"derived '{name}' = {result:g} is outside {lo:g}..{hi:g}; "
               f"check {', '.join(inputs)}")
        raise FactsError([FactIssue(name, "out-of-range", msg)])
    return int(result) if type_ == "integer" else result


def derive_facts(derived: Iterable[Derived], facts: dict[str, Any]
                 ) -> tuple[dict[str, Any], tuple[tuple[str, int], ...]]:
    """``facts`` plus every derived fact that can be worked out, and which piece gave each.

    ``derived`` must be in dependency order (``Bundle.derived`` is).
    """
    out = facts
    used: list[tuple[str, int]] = []
    for item in derived:
        if item.fact in out:
            continue  # a recorded value always wins
        for index, piece in enumerate(item.pieces):
            verdict = kleene(piece.when, out)
            if verdict is None:
                break
            if not verdict:
                continue
            value: Any = piece.value
            if piece.arith is not None:
                number = _arith(piece.arith, out, {})
                if number is None:
                    break
                value = _checked(item.fact, number, item.info.type, item.info.range,
                                 piece.inputs)
            if out is facts:
                out = dict(facts)
            out[item.fact] = value
            used.append((item.fact, index))
            break
    return out, tuple(used)


def derive(computed: Iterable[Computed], facts: dict[str, Any],
           values: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``facts`` plus every computed value that can be worked out (in declaration order)."""
    out = facts
    for item in computed:
        result: float | None
        if item.arith is not None:
            result = _arith(item.arith, out, values.get(item.ruleset, {}))
        else:
            result = None
            for expr, value in item.pieces:
                verdict = kleene(expr, out)
                if verdict is None:
                    break
                if verdict:
                    result = float(value)
                    break
        if result is None and item.otherwise is not None:
            other = out.get(item.otherwise)
            result = None if other is None else float(other)
        if result is None:
            continue
        checked = _checked(item.name, result, item.info.type, item.info.range, item.inputs)
        if out is facts:
            out = dict(facts)
        out[item.name] = checked
    return out
