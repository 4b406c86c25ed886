"""The operators of the condition language: one table, read by every stage that needs one.

The parser maps what authors write (``>=``, ``≥``, ``in``, ``is present``) to these canonical
names; binding negates them (``not sbp >= 140`` is ``sbp < 140``); the compiler writes them as
durable_rules tests and as Python; the three-valued interpreter and lint evaluate them; the
generated documents print them. A new operator is added here, once.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["OPS", "SPELLINGS", "Op"]


@dataclass(frozen=True)
class Op:
    """One comparison.

    Attributes:
        name: canonical name used in the bound conditions.
        negation: the operator that is true exactly when this one is false (on a known value).
        test: the comparison on a known value (``value``, ``constant``).
        python: the Python infix operator the compiler writes, or None (presence tests).
        durable: the durable_rules operator, or None where the compiler builds the test
            itself (``==`` is a plain property match; ``in`` / ``not_in`` expand to ``$or`` /
            ``$and``; presence is ``$ex`` / ``$nex``).
        symbol: how the generated documents print it.
    """

    name: str
    negation: str
    test: Callable[[Any, Any], bool]
    python: str | None
    durable: str | None
    symbol: str


def _in(value: Any, options: Any) -> bool:
    return value in options


def _not_in(value: Any, options: Any) -> bool:
    return value not in options


OPS: dict[str, Op] = {op.name: op for op in (
    Op(">=", "<", operator.ge, ">=", "$gte", "≥"),
    Op("<", ">=", operator.lt, "<", "$lt", "<"),
    Op(">", "<=", operator.gt, ">", "$gt", ">"),
    Op("<=", ">", operator.le, "<=", "$lte", "≤"),
    Op("==", "!=", operator.eq, "==", None, "="),
    Op("!=", "==", operator.ne, "!=", "$neq", "≠"),
    Op("in", "not_in", _in, "in", None, "in"),
    Op("not_in", "in", _not_in, "not in", None, "not in"),
    Op("present", "absent", lambda value, _: value is not None, None, None, "is present"),
    Op("absent", "present", lambda value, _: value is None, None, None, "is absent"),
)}

#: What an author may write for each comparison operator (``≥`` is ``>=``).
SPELLINGS: dict[str, str] = {">=": ">=", "<=": "<=", ">": ">", "<": "<", "==": "==", "!=": "!=",
                             "≥": ">=", "≤": "<=", "≠": "!="}
