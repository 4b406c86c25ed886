"""Errors raised by referral_rules.

Hierarchy::

    ReferralRulesError            base of everything this library raises on purpose
    ├── RulesetError (ValueError) one or more problems in ruleset files; .issues, each with
    │                             file:line:column, a message, a code and maybe a suggestion
    ├── FactsError (ValueError)   a patient record that does not fit the fact vocabulary; .issues,
    │                             each naming the fact
    ├── UnknownConditionError (ValueError) a condition (ruleset id) that is not loaded
    └── EngineError (RuntimeError) the rules engine failed on valid input (after a rebuild)

Messages never contain patient identifiers: fact names and values only.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "EngineError",
    "FactIssue",
    "FactsError",
    "Issue",
    "ReferralRulesError",
    "RulesetError",
    "UnknownConditionError",
    "closest_name",
]

IssueCode = Literal[
    "yaml-syntax",
    "yaml-limit",
    "duplicate-key",
    "file-missing",
    "schema",
    "unknown-fact",
    "unknown-name",
    "unknown-operator",
    "syntax",
    "type-mismatch",
    "unknown-value",
    "definition-cycle",
    "unknown-source",
    "missing-citation",
    "unknown-record",
    "duplicate-id",
    "bad-case",
    "bad-policy",
]

FactIssueCode = Literal[
    "unknown-fact",
    "wrong-type",
    "not-finite",
    "out-of-range",
    "not-allowed",
    "missing-required",
    "not-an-object",
    "too-many-facts",
]


@dataclass(frozen=True, order=True)
class Issue:
    """One problem in a ruleset file, located at a 1-based line and column."""

    file: str
    line: int
    column: int
    path: str
    message: str
    code: IssueCode
    suggestion: str | None = None

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        hint = f" ({self.suggestion})" if self.suggestion else ""
        return f"{self.file}:{self.line}:{self.column}: {where}{self.message}{hint} [{self.code}]"

    def to_dict(self) -> dict[str, object]:
        """The issue as plain JSON-ready data."""
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "path": self.path,
            "message": self.message,
            "code": self.code,
            "suggestion": self.suggestion,
        }


@dataclass(frozen=True, order=True)
class FactIssue:
    """One problem with one fact of a patient record."""

    fact: str
    code: FactIssueCode
    message: str
    suggestion: str | None = None

    def __str__(self) -> str:
        hint = f" ({self.suggestion})" if self.suggestion else ""
        return f"{self.fact}: {self.message}{hint} [{self.code}]"

    def to_dict(self) -> dict[str, object]:
        """The issue as plain JSON-ready data."""
        return {
            "fact": self.fact,
            "code": self.code,
            "message": self.message,
            "suggestion": self.suggestion,
        }


class ReferralRulesError(Exception):
    """Base class of every error this library raises on purpose."""


class RulesetError(ReferralRulesError, ValueError):
    """Ruleset files have problems; ``issues`` lists all of them in file order."""

    def __init__(self, issues: tuple[Issue, ...] | list[Issue]) -> None:
        self.issues = tuple(sorted(set(issues)))
        super().__init__("\n".join(str(i) for i in self.issues))


class FactsError(ReferralRulesError, ValueError):
    """A patient record does not fit the fact vocabulary; ``issues`` names each fact."""

    def __init__(self, issues: tuple[FactIssue, ...] | list[FactIssue]) -> None:
        self.issues = tuple(sorted(set(issues)))
        super().__init__("; ".join(str(i) for i in self.issues))


class EngineError(ReferralRulesError, RuntimeError):
    """The rules engine failed on valid input, even after rebuilding its handle."""


class UnknownConditionError(ReferralRulesError, ValueError):
    """A condition (ruleset id) was asked for that is not loaded."""

    def __init__(self, name: str, known: list[str], suggestion: str | None = None) -> None:
        self.name = name
        self.known = known
        self.suggestion = suggestion
        hint = f" ({suggestion})" if suggestion else ""
        super().__init__(f"unknown condition '{name}'{hint}; loaded: {', '.join(known)}")


def closest_name(name: str, known: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The known name ``name`` most likely misspells, if any: a close spelling, else the
    longest known name it extends with a qualifier (``sbp_mmhg`` → ``sbp``)."""
    pool = sorted(set(known))
    close = difflib.get_close_matches(name, pool, n=1, cutoff=cutoff)
    if close:
        return close[0]
    # a unit or qualifier appended: the longest known name the typo starts with, at a '_'
    stems = [k for k in pool if len(k) >= 3 and name.startswith(k + "_")]
    return max(stems, key=len) if stems else None

