"""Evaluate: validate → derive → scope → match → resolve, for one patient. Thread-safe."""

from __future__ import annotations

import difflib
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from . import engine
from .compiler import kleene
from .decision import Decision, Scope
from .derive import derive, derive_facts
from .errors import UnknownConditionError
from .ir import Bundle, RulesetIR
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
    """One ruleset's matchers: all its rules, and its emergency rules alone (for a ruleset
    whose scope is unknown, only emergencies true on the recorded facts count)."""

    def __init__(self, ruleset: RulesetIR, use_durable: bool) -> None:
        rules = ruleset.rules
        urgent = [r for r in rules if r.emergency]
        self.id = ruleset.id
        self.scope = ruleset.scope
        self.python = PythonMatcher(rules)
        self.durable = engine.DurableMatcher(rules) if use_durable else None
        self.emergency_python = PythonMatcher(urgent)
        self.emergency_durable = engine.DurableMatcher(urgent) if use_durable and urgent \
            else None
        self.used = frozenset(f for r in rules for f in r.facts)
        self.emergency_used = frozenset(f for r in urgent for f in r.facts)

    def classify(self, record: dict[str, Any]) -> tuple[list[int], list[int]]:
        """(fired, undetermined) over every rule."""
        hits, unknown = self.python.classify(record)
        if self.durable is not None:
            used = self.used
            hits = self.durable.match({k: v for k, v in record.items() if k in used})
        return hits, unknown

    def emergencies(self, record: dict[str, Any]) -> list[int]:
        """The emergency rules that are true."""
        if self.emergency_durable is not None:
            used = self.emergency_used
            return self.emergency_durable.match({k: v for k, v in record.items() if k in used})
        return self.emergency_python.match(record)

    def match(self, record: dict[str, Any]) -> list[int]:
        if self.durable is None:
            return self.python.match(record)
        used = self.used
        return self.durable.match({k: v for k, v in record.items() if k in used})

    def close(self) -> None:
        for matcher in (self.durable, self.emergency_durable):
            if matcher is not None:
                matcher.close()


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
        self._parts = {rs.id: _Part(rs, use_durable) for rs in bundle.rulesets.values()}
        self._resolver = Resolver(bundle)
        self._derived = bundle.derived
        self._computed = tuple(c for rs in bundle.rulesets.values() for c in rs.computed)
        self._values = {rs.id: dict(rs.values) for rs in bundle.rulesets.values()}
        self._all = tuple(bundle.rulesets)
        self._cache: dict[tuple[str, ...], tuple[_Part, ...]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_directory(cls, directory: str | Path, backend: Backend = "auto") -> Engine:
        """Load ``directory`` and build an engine over it."""
        return cls(load_rulesets(directory), backend)

    @property
    def conditions(self) -> tuple[str, ...]:
        """Ids of the loaded rulesets."""
        return self._all

    def _select(self, conditions: Sequence[str]) -> tuple[_Part, ...]:
        key = tuple(conditions)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        for name in key:
            if name not in self._parts:
                close = difflib.get_close_matches(name, list(self._all), n=1)
                raise UnknownConditionError(name, list(self._all),
                                            f"did you mean '{close[0]}'?" if close else None)
        value = tuple(self._parts[c] for c in self._all if c in key)
        with self._lock:
            self._cache[key] = value
        return value

    def validate(self, facts: Mapping[str, Any]) -> dict[str, Any]:
        """The record's present facts, or FactsError naming every bad fact."""
        return self.vocabulary.validate(facts)

    def _prepare(self, facts: Mapping[str, Any]
                 ) -> tuple[dict[str, Any], tuple[tuple[str, int], ...]]:
        record = self.vocabulary.validate(facts)
        record, derived = derive_facts(self._derived, record)
        if self._computed:
            record = derive(self._computed, record, self._values)
        return record, derived

    def prepare(self, facts: Mapping[str, Any],
                conditions: Sequence[str] | None = None) -> dict[str, Any]:
        """The validated record with derived facts and computed values added (what the rules
        see). ``conditions`` is accepted for compatibility; every value is worked out."""
        if conditions is not None:
            self._select(conditions)
        return self._prepare(facts)[0]

    def derivations(self, facts: Mapping[str, Any]) -> tuple[tuple[str, int], ...]:
        """(fact, piece index) of each derived fact worked out for ``facts``."""
        return self._prepare(facts)[1]

    def scopes(self, facts: Mapping[str, Any]) -> dict[str, Scope]:
        """Whether each loaded ruleset applies to ``facts`` (validated and derived first)."""
        record = self._prepare(facts)[0]
        return {part.id: _scope(part, record) for part in self._parts.values()}

    def evaluate(self, facts: Mapping[str, Any],
                 conditions: Sequence[str] | None = None) -> Decision:
        """The Decision for one patient's facts.

        Args:
            facts: fact name → value, as in the vocabulary; absent or null facts are unknown.
            conditions: ruleset ids to evaluate, each taken as applying to the patient. Default:
                every loaded ruleset where its ``applies_to`` scope holds; a ruleset whose scope
                is unknown only contributes emergencies true on the recorded facts.

        Raises:
            FactsError: a fact has the wrong type, an impossible value or an unknown name.
            UnknownConditionError: a condition that is not loaded.
        """
        parts = self._select(conditions) if conditions is not None else None
        record, derived = self._prepare(facts)
        fired: list[int] = []
        undetermined: list[int] = []
        scopes: list[tuple[str, Scope]] = []
        for part in parts if parts is not None else self._parts.values():
            scope = "requested" if parts is not None else _scope(part, record)
            scopes.append((part.id, scope))
            if scope in ("requested", "applies"):
                hits, unknown = part.classify(record)
                fired.extend(hits)
                undetermined.extend(unknown)
            elif scope == "unknown":
                fired.extend(part.emergencies(record))
        fired.sort()
        bypass = kleene(self.bundle.policy.bypass, record) is True
        refs = self._resolver.refs(scopes)
        return self._resolver.decide(record, fired, undetermined, refs, bypass, derived)

    def match(self, facts: Mapping[str, Any],
              conditions: Sequence[str] | None = None) -> list[str]:
        """Ids of the rules that are true for ``facts`` (validated and derived first), in the
        given rulesets (default: all), whatever their scope; for diagnostics."""
        parts = self._select(conditions) if conditions is not None else self._parts.values()
        record = self._prepare(facts)[0]
        return [self.bundle.rules[i].id for part in parts for i in part.match(record)]

    def close(self) -> None:
        """Release the engine's handles."""
        for part in self._parts.values():
            part.close()


def _scope(part: _Part, record: dict[str, Any]) -> Scope:
    verdict = kleene(part.scope, record)
    return "applies" if verdict else "unknown" if verdict is None else "not_applicable"
