"""Evaluate: validate → derive → scope → match → resolve, for one patient. Thread-safe."""

from __future__ import annotations

import difflib
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import islice
from pathlib import Path
from typing import Any, Literal, cast

from . import engine
from .compiler import python_prepare
from .decision import Decision, Scope
from .errors import FactsError, UnknownConditionError
from .ir import Bundle, RulesetIR
from .link import load_rulesets
from .oracle import PythonMatcher
from .resolve import Resolver

__all__ = ["Backend", "Engine", "resolve_backend"]

Backend = Literal["durable", "python", "auto"]
CHUNK = 32  # rules per durable_rules handle (see _Part)
BATCH = 64  # records per multi-fact assertion in evaluate_many


def resolve_backend(backend: Backend) -> Literal["durable", "python"]:
    """The backend ``backend`` stands for here: ``auto`` is durable_rules when it imports."""
    if backend == "durable" or (backend == "auto" and engine.available()):
        return "durable"
    return "python"


class _Part:
    """One ruleset's matcher: durable_rules (when chosen) or the generated Python classifier.

    Either way one call gives the rules that fire and the rules left undetermined by
    unrecorded facts; the durable_rules backend decides both inside durable_rules."""

    def __init__(self, ruleset: RulesetIR, use_durable: bool) -> None:
        rules = ruleset.rules
        self.id = ruleset.id
        self.python = PythonMatcher(rules)
        # durable_rules walks a fact through the network on a fixed 64-entry stack (error 303
        # beyond it, seen with ~45 rules and their negations on a dense record): a large
        # ruleset is split into handles of at most CHUNK rules.
        self.durable = [
            engine.DurableMatcher(rules[i:i + CHUNK]) for i in range(0, len(rules), CHUNK)
        ] if use_durable else None
        self.used = frozenset(f for r in rules for f in r.facts)
        self.emergency = frozenset(r.index for r in rules if r.emergency)

    def classify(self, record: dict[str, Any], members: dict[str, str] | None = None
                 ) -> tuple[list[int], list[int]]:
        """(fired, undetermined) over every rule; ``members``: the record as
        ``engine.encode_facts`` gives it, encoded once for all the parts."""
        if self.durable is None:
            return self.python.classify(record)
        if members is None:
            members = engine.encode_facts(record)
        used = self.used
        mine = [m for k, m in members.items() if k in used]
        if len(self.durable) == 1:
            return self.durable[0].classify_members(mine)
        fired: list[int] = []
        undetermined: list[int] = []
        for matcher in self.durable:
            hits, unknown = matcher.classify_members(mine)
            fired += hits
            undetermined += unknown
        return fired, undetermined

    def classify_many(self, records: list[dict[str, Any]]
                      ) -> list[tuple[list[int], list[int]]]:
        """``classify`` for many records: one multi-fact assertion per durable_rules handle."""
        if self.durable is None:
            return [self.python.classify(r) for r in records]
        used = self.used
        facts = [{k: v for k, v in r.items() if k in used} for r in records]
        results = self.durable[0].classify_many(facts)
        for matcher in self.durable[1:]:
            for (fired, undetermined), more in zip(results, matcher.classify_many(facts),
                                                   strict=True):
                fired += more[0]
                undetermined += more[1]
        return results

    def match(self, record: dict[str, Any]) -> list[int]:
        return self.classify(record)[0]

    def close(self) -> None:
        for matcher in self.durable or ():
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
        self._order = tuple(self._parts.values())  # bundle order, as prepare() gives scopes
        self._position = {part.id: i for i, part in enumerate(self._order)}
        self._resolver = Resolver(bundle)
        self._prepare_record, self.prepare_source = python_prepare(bundle)
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
                 ) -> tuple[dict[str, Any], list[tuple[str, int]], tuple[str, ...], bool]:
        return self._prepare_record(self.vocabulary.validate(facts))

    def prepare(self, facts: Mapping[str, Any],
                conditions: Sequence[str] | None = None) -> dict[str, Any]:
        """The validated record with derived facts and computed values added (what the rules
        see). ``conditions`` is accepted for compatibility; every value is worked out."""
        if conditions is not None:
            self._select(conditions)
        return self._prepare(facts)[0]

    def derivations(self, facts: Mapping[str, Any]) -> tuple[tuple[str, int], ...]:
        """(fact, piece index) of each derived fact worked out for ``facts``."""
        return tuple(self._prepare(facts)[1])

    def scopes(self, facts: Mapping[str, Any]) -> dict[str, Scope]:
        """Whether each loaded ruleset applies to ``facts`` (validated and derived first)."""
        scopes = self._prepare(facts)[2]
        return {part.id: cast(Scope, s) for part, s in zip(self._order, scopes, strict=True)}

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
        record, derived, in_scope, bypass = self._prepare(facts)
        fired: list[int] = []
        undetermined: list[int] = []
        scopes: list[tuple[str, Scope]] = []
        members = engine.encode_facts(record) if self.backend == "durable" else None
        if conditions is not None:
            for part in self._select(conditions):
                scopes.append((part.id, "requested"))
                hits, unknown = part.classify(record, members)
                fired += hits
                undetermined += unknown
        else:
            for part, scope in zip(self._order, in_scope, strict=True):
                scopes.append((part.id, cast(Scope, scope)))
                if scope == "applies":
                    hits, unknown = part.classify(record, members)
                    fired += hits
                    undetermined += unknown
                elif scope == "unknown":  # only emergencies true on the recorded facts
                    emergency = part.emergency
                    fired += [i for i in part.classify(record, members)[0] if i in emergency]
        refs = self._resolver.refs(tuple(scopes))
        return self._resolver.decide(record, fired, undetermined, refs, bypass, derived)

    def evaluate_many(self, records: Iterable[Mapping[str, Any]],
                      conditions: Sequence[str] | None = None, *, batch: int = BATCH
                      ) -> Iterator[Decision | FactsError]:
        """Decisions for many patients, in input order: each a Decision, or the FactsError of
        a record that does not fit the vocabulary (one bad record never stops the others).

        Records are matched ``batch`` at a time, each ruleset's at once (one multi-fact
        assertion per durable_rules handle). Same decisions as ``evaluate``, byte for byte.

        Raises:
            UnknownConditionError: a condition that is not loaded (before any record is read).
        """
        requested = self._select(conditions) if conditions is not None else None
        it = iter(records)
        while chunk := list(islice(it, batch)):
            prepared: list[Any] = []
            for facts in chunk:
                try:
                    prepared.append(self._prepare(facts))
                except FactsError as exc:
                    prepared.append(exc)
            yield from self._decide_many(prepared, requested)

    def _decide_many(self, prepared: list[Any], requested: tuple[_Part, ...] | None
                     ) -> Iterator[Decision | FactsError]:
        ok = [i for i, p in enumerate(prepared) if not isinstance(p, FactsError)]
        fired: dict[int, list[int]] = {i: [] for i in ok}
        undetermined: dict[int, list[int]] = {i: [] for i in ok}
        scopes: dict[int, list[tuple[str, Scope]]] = {i: [] for i in ok}
        parts = requested if requested is not None else self._order
        for n, part in enumerate(parts):
            want: list[int] = []
            for i in ok:
                scope = "requested" if requested is not None else \
                    cast(Scope, prepared[i][2][self._position[part.id]])
                scopes[i].append((part.id, scope))
                if scope != "not_applicable":
                    want.append(i)
            results = part.classify_many([prepared[i][0] for i in want])
            for i, (hits, unknown) in zip(want, results, strict=True):
                if scopes[i][n][1] == "unknown":  # only emergencies true on the recorded facts
                    fired[i] += [x for x in hits if x in part.emergency]
                else:
                    fired[i] += hits
                    undetermined[i] += unknown
        for i, item in enumerate(prepared):
            if isinstance(item, FactsError):
                yield item
                continue
            record, derived, _, bypass = item
            refs = self._resolver.refs(tuple(scopes[i]))
            yield self._resolver.decide(record, fired[i], undetermined[i], refs, bypass,
                                        derived)

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
