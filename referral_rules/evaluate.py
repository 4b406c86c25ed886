"""Evaluate: validate → derive → match → resolve, for one patient at a time. Thread-safe."""

from __future__ import annotations

import difflib
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from . import engine
from .compiler import kleene
from .decision import Decision, RulesetRef
from .derive import derive
from .errors import UnknownConditionError
from .ir import Bundle
from .link import load_rulesets
from .oracle import PythonMatcher
from .resolve import Resolver

__all__ = ["Backend", "Engine"]

Backend = Literal["durable", "python", "auto"]


class Engine:
    """Evaluates patients against a loaded rules directory.

    Args:
        bundle: rules from ``load_rulesets``.
        backend: ``durable`` (durable_rules), ``python`` (the generated plain-Python matcher),
            or ``auto`` (durable_rules when it can be imported).
    """

    def __init__(self, bundle: Bundle, backend: Backend = "auto") -> None:
        self.bundle = bundle
        self.vocabulary = bundle.vocabulary
        self._python = PythonMatcher(bundle.rules)
        use_durable = backend == "durable" or (backend == "auto" and engine.available())
        self._durable = engine.DurableMatcher(bundle.rules) if use_durable else None
        self.backend: str = "durable" if use_durable else "python"
        self._resolver = Resolver(bundle)
        self._computed = tuple(c for rs in bundle.rulesets.values() for c in rs.computed)
        self._values = {rs.id: dict(rs.values) for rs in bundle.rulesets.values()}
        self._used = frozenset(f for r in bundle.rules for f in r.facts)
        self._members = {rs.id: frozenset(r.index for r in rs.rules)
                         for rs in bundle.rulesets.values()}
        self._all = tuple(bundle.rulesets)
        self._cache: dict[tuple[str, ...], tuple[frozenset[int], tuple[RulesetRef, ...]]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_directory(cls, directory: str | Path, backend: Backend = "auto") -> Engine:
        """Load ``directory`` and build an engine over it."""
        return cls(load_rulesets(directory), backend)

    @property
    def conditions(self) -> tuple[str, ...]:
        """Ids of the loaded rulesets."""
        return self._all

    def _select(self, conditions: Sequence[str] | None) -> tuple[frozenset[int],
                                                                  tuple[RulesetRef, ...]]:
        key = tuple(conditions) if conditions is not None else self._all
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        for name in key:
            if name not in self._members:
                close = difflib.get_close_matches(name, list(self._all), n=1)
                raise UnknownConditionError(name, list(self._all),
                                            f"did you mean '{close[0]}'?" if close else None)
        ordered = tuple(c for c in self._all if c in key)
        members = frozenset().union(*(self._members[c] for c in ordered))
        value = (members, self._resolver.refs(ordered))
        with self._lock:
            self._cache[key] = value
        return value

    def validate(self, facts: Mapping[str, Any]) -> dict[str, Any]:
        """The record's present facts, or FactsError naming every bad fact."""
        return self.vocabulary.validate(facts)

    def evaluate(self, facts: Mapping[str, Any],
                 conditions: Sequence[str] | None = None) -> Decision:
        """The Decision for one patient's facts.

        Args:
            facts: fact name → value, as in the vocabulary; absent or null facts are unknown.
            conditions: ruleset ids to evaluate (default: every loaded ruleset).

        Raises:
            FactsError: a fact has the wrong type, an impossible value or an unknown name.
            UnknownConditionError: a condition that is not loaded.
        """
        members, refs = self._select(conditions)
        record = self.vocabulary.validate(facts)
        if self._computed:
            record = derive(self._computed, record, self._values)
        if self._durable is not None:
            used = self._used
            fired_all = self._durable.match({k: v for k, v in record.items() if k in used})
        else:
            fired_all = self._python.match(record)
        fired = [i for i in fired_all if i in members]
        fired_set = set(fired)
        undetermined = [i for i in self._python.possible(record)
                        if i in members and i not in fired_set]
        bypass = kleene(self.bundle.policy.bypass, record) is True
        return self._resolver.decide(record, fired, undetermined, refs, bypass)

    def prepare(self, facts: Mapping[str, Any]) -> dict[str, Any]:
        """The validated record with computed values added (what the rules see)."""
        record = self.vocabulary.validate(facts)
        return derive(self._computed, record, self._values) if self._computed else record

    def match(self, facts: Mapping[str, Any]) -> list[str]:
        """Ids of the rules that fire for ``facts`` (validated first), for diagnostics."""
        record = self.vocabulary.validate(facts)
        if self._computed:
            record = derive(self._computed, record, self._values)
        matcher = self._durable or self._python
        return [self.bundle.rules[i].id for i in matcher.match(record)]

    def close(self) -> None:
        """Release the engine's handles."""
        if self._durable is not None:
            self._durable.close()
