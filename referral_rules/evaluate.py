"""Evaluate: validate → derive → match → resolve, for one patient at a time. Thread-safe."""

from __future__ import annotations

import difflib
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple

from . import engine
from .compiler import kleene
from .decision import Decision, RulesetRef
from .derive import derive
from .errors import UnknownConditionError
from .ir import Bundle, CompiledRule, Computed
from .link import load_rulesets
from .oracle import PythonMatcher
from .resolve import Resolver

__all__ = ["Backend", "Engine", "resolve_backend"]

Backend = Literal["durable", "python", "auto"]


def resolve_backend(backend: Backend) -> Literal["durable", "python"]:
    """The backend ``backend`` stands for here: ``auto`` is durable_rules when it imports."""
    if backend == "durable" or (backend == "auto" and engine.available()):
        return "durable"
    return "python"


class _Part:
    """One ruleset's matchers: durable_rules (when chosen) and the generated Python pair."""

    def __init__(self, rules: Sequence[CompiledRule], use_durable: bool) -> None:
        self.python = PythonMatcher(rules)
        self.durable = engine.DurableMatcher(rules) if use_durable else None
        self.used = frozenset(f for r in rules for f in r.facts)

    def match(self, record: dict[str, Any]) -> list[int]:
        if self.durable is None:
            return self.python.match(record)
        used = self.used
        return self.durable.match({k: v for k, v in record.items() if k in used})


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
        self.backend: str = resolve_backend(backend)
        use_durable = self.backend == "durable"
        self._parts = {rs.id: _Part(rs.rules, use_durable) for rs in bundle.rulesets.values()}
        self._resolver = Resolver(bundle)
        self._computed = {rs.id: rs.computed for rs in bundle.rulesets.values()}
        self._values = {rs.id: dict(rs.values) for rs in bundle.rulesets.values()}
        self._all = tuple(bundle.rulesets)
        self._cache: dict[tuple[str, ...], _Selection] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_directory(cls, directory: str | Path, backend: Backend = "auto") -> Engine:
        """Load ``directory`` and build an engine over it."""
        return cls(load_rulesets(directory), backend)

    @property
    def conditions(self) -> tuple[str, ...]:
        """Ids of the loaded rulesets."""
        return self._all

    def _select(self, conditions: Sequence[str] | None) -> _Selection:
        key = tuple(conditions) if conditions is not None else self._all
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        for name in key:
            if name not in self._parts:
                close = difflib.get_close_matches(name, list(self._all), n=1)
                raise UnknownConditionError(name, list(self._all),
                                            f"did you mean '{close[0]}'?" if close else None)
        ordered = tuple(c for c in self._all if c in key)
        value = _Selection(
            tuple(self._parts[c] for c in ordered),
            tuple(item for c in ordered for item in self._computed[c]),
            self._resolver.refs(ordered),
        )
        with self._lock:
            self._cache[key] = value
        return value

    def validate(self, facts: Mapping[str, Any]) -> dict[str, Any]:
        """The record's present facts, or FactsError naming every bad fact."""
        return self.vocabulary.validate(facts)

    def prepare(self, facts: Mapping[str, Any],
                conditions: Sequence[str] | None = None) -> dict[str, Any]:
        """The validated record with computed values added (what the rules see)."""
        record = self.vocabulary.validate(facts)
        computed = self._select(conditions).computed
        return derive(computed, record, self._values) if computed else record

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
        selection = self._select(conditions)
        record = self.vocabulary.validate(facts)
        if selection.computed:
            record = derive(selection.computed, record, self._values)
        fired: list[int] = []
        undetermined: list[int] = []
        for part in selection.parts:
            hits, unknown = part.python.classify(record)
            if part.durable is not None:
                used = part.used
                hits = part.durable.match({k: v for k, v in record.items() if k in used})
            fired.extend(hits)
            undetermined.extend(unknown)
        bypass = kleene(self.bundle.policy.bypass, record) is True
        return self._resolver.decide(record, fired, undetermined, selection.refs, bypass)

    def match(self, facts: Mapping[str, Any],
              conditions: Sequence[str] | None = None) -> list[str]:
        """Ids of the rules that fire for ``facts`` (validated first), for diagnostics."""
        selection = self._select(conditions)
        record = self.prepare(facts, conditions)
        return [self.bundle.rules[i].id for part in selection.parts for i in part.match(record)]

    def close(self) -> None:
        """Release the engine's handles."""
        for part in self._parts.values():
            if part.durable is not None:
                part.durable.close()


class _Selection(NamedTuple):
    parts: tuple[_Part, ...]
    computed: tuple[Computed, ...]
    refs: tuple[RulesetRef, ...]
