"""Derive: computed values (e.g. a HEART score from its five components) added before matching."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from .compiler import kleene
from .conditions import Arith, Name
from .errors import FactIssue, FactsError
from .ir import Computed

__all__ = ["derive"]


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
        lo, hi = item.info.range or (-math.inf, math.inf)
        if not lo <= result <= hi:
            msg = (f"computed '{item.name}' = {result:g} is outside {lo:g}..{hi:g}; "
                   f"check {', '.join(item.inputs)}")
            raise FactsError([FactIssue(item.name, "out-of-range", msg)])
        if out is facts:
            out = dict(facts)
        out[item.name] = int(result) if item.info.type == "integer" else result
    return out
