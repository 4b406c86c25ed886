"""The condition language: text that reads like a guideline, parsed safely into a small tree.

``sbp >= 180 or dbp >= 110``, ``care_level in [primary, secondary]``,
``age between 46 and 64``, ``not pregnant_or_breastfeeding``, ``troponin is present``.
Nothing is ever evaluated as Python. Parsing gives an unbound tree (names not yet known to be
facts or definitions); ``bind.py`` resolves the names against the vocabulary and definitions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import IssueCode, ReferralRulesError
from .operators import SPELLINGS

__all__ = [
    "Arith",
    "BoolLit",
    "Compare",
    "ConditionSyntaxError",
    "Logic",
    "Member",
    "Name",
    "Node",
    "Presence",
    "parse_arithmetic",
    "parse_condition",
]

Scalar = int | float | str | bool


class ConditionSyntaxError(ReferralRulesError, ValueError):
    """A condition that cannot be parsed; ``offset`` is the 0-based character position."""

    def __init__(
        self, message: str, offset: int, code: IssueCode = "syntax",
        suggestion: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset
        self.code = code
        self.suggestion = suggestion


@dataclass(frozen=True)
class Name:
    """A bare name in condition position: a boolean fact or a named condition."""

    name: str
    offset: int


@dataclass(frozen=True)
class Compare:
    """``left op right``; ``right`` is a literal or a name (enum value or named threshold)."""

    left: str
    op: str
    right: Scalar | Name
    offset: int


@dataclass(frozen=True)
class Member:
    """``left in [a, b]`` (or ``not in`` when ``negated``)."""

    left: str
    values: tuple[Scalar | Name, ...]
    negated: bool
    offset: int


@dataclass(frozen=True)
class Presence:
    """``fact is present`` / ``fact is absent``."""

    fact: str
    present: bool
    offset: int


@dataclass(frozen=True)
class BoolLit:
    """``true`` or ``false``."""

    value: bool


@dataclass(frozen=True)
class Logic:
    """``and`` / ``or`` of two or more items, or ``not`` of one."""

    op: str  # "and" | "or" | "not"
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Arith:
    """Arithmetic for computed definitions: ``op`` in + - * / over numbers and names."""

    op: str
    left: Arith | Name | float | int
    right: Arith | Name | float | int


Node = Name | Compare | Member | Presence | BoolLit | Logic

OPERATORS = SPELLINGS  # what authors may write → the canonical operator (operators.py)
_OPERATOR_HINTS = {"=>": ">=", "=<": "<=", "=": "==", "<>": "!=", "=!": "!=", "≧": ">=",
                   "≦": "<=", "＞": ">", "＜": "<", "＝": "=="}
_WORD_OPERATORS = {"gte": ">=", "ge": ">=", "lte": "<=", "le": "<=", "gt": ">", "lt": "<",
                   "eq": "==", "ne": "!=", "equals": "==", "is_not": "!="}
KEYWORDS = {"and", "or", "not", "in", "between", "is", "true", "false", "present", "absent"}
_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<string>'[^']*'|"[^"]*")
  | (?P<name>[A-Za-z_\u4e00-\u9fff][A-Za-z0-9_\u4e00-\u9fff]*)
  | (?P<op>[<>=!≥≤≠≧≦＞＜＝]+)
  | (?P<punct>[()\[\],+\-*/（）])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    offset: int


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            msg = f"unexpected character {text[pos]!r}"
            raise ConditionSyntaxError(msg, pos)
        kind = m.lastgroup or ""
        value = m.group()
        if kind == "op" and value not in OPERATORS:
            hint = _OPERATOR_HINTS.get(value)
            msg = f"unknown operator '{value}'"
            suggestion = f"did you mean '{hint}'?" if hint else "use one of >= <= > < == !="
            raise ConditionSyntaxError(msg, pos, "unknown-operator", suggestion)
        if kind == "punct":
            value = {"（": "(", "）": ")"}.get(value, value)
        if kind != "ws":
            toks.append(_Tok(kind, value, pos))
        pos = m.end()
    toks.append(_Tok("end", "", len(text)))
    return toks


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0

    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def at_word(self, *words: str) -> bool:
        return self.tok.kind == "name" and self.tok.text in words

    def expect_word(self, word: str) -> None:
        if not self.at_word(word):
            self.fail(f"expected '{word}'")
        self.take()

    def fail(self, message: str, suggestion: str | None = None) -> None:
        tok = self.tok
        found = f" but found '{tok.text}'" if tok.kind != "end" else " but the condition ended"
        raise ConditionSyntaxError(message + found, tok.offset, "syntax", suggestion)

    def parse(self) -> Node:
        if self.tok.kind == "end":
            msg = "the condition is empty"
            raise ConditionSyntaxError(msg, 0)
        node = self.parse_or()
        if self.tok.kind != "end":
            upper = self.tok.text.lower()
            hint = f"write '{upper}' in lower case" if upper in ("and", "or", "not") else (
                "join conditions with 'and' / 'or'")
            self.fail("expected 'and', 'or' or the end of the condition", hint)
        return node

    def parse_or(self) -> Node:
        items = [self.parse_and()]
        while self.at_word("or"):
            self.take()
            items.append(self.parse_and())
        return items[0] if len(items) == 1 else Logic("or", tuple(items))

    def parse_and(self) -> Node:
        items = [self.parse_not()]
        while self.at_word("and"):
            self.take()
            items.append(self.parse_not())
        return items[0] if len(items) == 1 else Logic("and", tuple(items))

    def parse_not(self) -> Node:
        if self.at_word("not"):
            self.take()
            return Logic("not", (self.parse_not(),))
        return self.parse_primary()

    def parse_primary(self) -> Node:
        tok = self.tok
        if tok.kind == "punct" and tok.text == "(":
            self.take()
            node = self.parse_or()
            if not (self.tok.kind == "punct" and self.tok.text == ")"):
                self.fail("expected ')'")
            self.take()
            return node
        if self.at_word("true", "false"):
            self.take()
            return BoolLit(tok.text == "true")
        if tok.kind != "name" or tok.text in KEYWORDS:
            self.fail("expected a fact or a named condition")
        self.take()
        return self.parse_after_name(tok)

    def parse_after_name(self, name: _Tok) -> Node:
        tok = self.tok
        if tok.kind == "op":
            self.take()
            return Compare(name.text, OPERATORS[tok.text], self.parse_value(), name.offset)
        if self.at_word("between"):
            self.take()
            low = self.parse_value()
            self.expect_word("and")
            high = self.parse_value()
            return Logic("and", (Compare(name.text, ">=", low, name.offset),
                                 Compare(name.text, "<=", high, name.offset)))
        if self.at_word("in"):
            self.take()
            return Member(name.text, self.parse_list(), False, name.offset)
        if self.at_word("not") and self.toks[self.i + 1].text == "in":
            self.take()
            self.take()
            return Member(name.text, self.parse_list(), True, name.offset)
        if self.at_word("is"):
            self.take()
            negate = False
            if self.at_word("not"):
                self.take()
                negate = True
            word = self.tok.text if self.tok.kind == "name" else ""
            if word in ("present", "absent"):
                self.take()
                return Presence(name.text, (word == "present") != negate, name.offset)
            if word in ("true", "false"):
                self.take()
                return Compare(name.text, "!=" if negate else "==", word == "true", name.offset)
            self.fail("expected 'present', 'absent', 'true' or 'false' after 'is'")
        if tok.kind == "name" and tok.text.lower() in _WORD_OPERATORS:
            hint = _WORD_OPERATORS[tok.text.lower()]
            msg = f"unknown operator '{tok.text}'"
            raise ConditionSyntaxError(
                msg, tok.offset, "unknown-operator",
                f"did you mean '{hint}'?")
        if tok.kind in ("number", "string") or (tok.kind == "name" and tok.text not in KEYWORDS):
            msg = f"missing operator between '{name.text}' and '{tok.text}'"
            raise ConditionSyntaxError(
                msg, tok.offset,
                "unknown-operator", "use one of >= <= > < == != in between is")
        return Name(name.text, name.offset)

    def parse_value(self) -> Scalar | Name:
        tok = self.tok
        if tok.kind == "number":
            self.take()
            return float(tok.text) if "." in tok.text else int(tok.text)
        if tok.kind == "string":
            self.take()
            return tok.text[1:-1]
        if self.at_word("true", "false"):
            self.take()
            return tok.text == "true"
        if tok.kind == "name" and tok.text not in KEYWORDS:
            self.take()
            return Name(tok.text, tok.offset)
        self.fail("expected a number, a value or a named threshold")
        raise AssertionError  # pragma: no cover - fail() raises

    def parse_list(self) -> tuple[Scalar | Name, ...]:
        if not (self.tok.kind == "punct" and self.tok.text == "["):
            self.fail("expected '[' to start a list of values")
        self.take()
        values = [self.parse_value()]
        while self.tok.kind == "punct" and self.tok.text == ",":
            self.take()
            values.append(self.parse_value())
        if not (self.tok.kind == "punct" and self.tok.text == "]"):
            self.fail("expected ',' or ']'")
        self.take()
        return tuple(values)

    # arithmetic (computed definitions)
    def parse_sum(self) -> Arith | Name | float | int:
        left = self.parse_product()
        while self.tok.kind == "punct" and self.tok.text in "+-":
            op = self.take().text
            left = Arith(op, left, self.parse_product())
        return left

    def parse_product(self) -> Arith | Name | float | int:
        left = self.parse_factor()
        while self.tok.kind == "punct" and self.tok.text in "*/":
            op = self.take().text
            left = Arith(op, left, self.parse_factor())
        return left

    def parse_factor(self) -> Arith | Name | float | int:
        tok = self.tok
        if tok.kind == "punct" and tok.text == "(":
            self.take()
            inner = self.parse_sum()
            if not (self.tok.kind == "punct" and self.tok.text == ")"):
                self.fail("expected ')'")
            self.take()
            return inner
        if tok.kind == "number":
            self.take()
            return float(tok.text) if "." in tok.text else int(tok.text)
        if tok.kind == "name" and tok.text not in KEYWORDS:
            self.take()
            return Name(tok.text, tok.offset)
        self.fail("expected a number, a fact or '('")
        raise AssertionError  # pragma: no cover - fail() raises


def parse_condition(text: str) -> Node:
    """Parse one condition line; raise ConditionSyntaxError with an offset on failure."""
    return _Parser(text).parse()


def parse_arithmetic(text: str) -> Arith | Name | float | int:
    """Parse a ``compute:`` expression such as ``a + b + c``."""
    parser = _Parser(text)
    if parser.tok.kind == "end":
        msg = "the expression is empty"
        raise ConditionSyntaxError(msg, 0)
    node = parser.parse_sum()
    if parser.tok.kind != "end":
        parser.fail("expected + - * / or the end of the expression")
    return node
