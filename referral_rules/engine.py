"""The durable_rules backend: the only module that imports durable_rules.

Driven as shared/durable-notes.md measured to be correct and fast: the C extension directly
(not ``durable.lang`` / ``Host``: slower, background threads that steal results, swallowed
exceptions, process-global names); each patient asserted as a *fact* (an event fires only one
rule) under a reserved constant id, actions drained, the fact retracted by that id; fired rule
names collected into a set (an ``or`` fires twice); one handle per thread, built eagerly for the
creating thread; on any engine error the handle is deleted and rebuilt, never repaired.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterable
from typing import Any

from .compiler import INIT_RULE, RESERVED, rule_name, to_durable
from .errors import EngineError
from .ir import CompiledRule

__all__ = ["DurableMatcher", "available"]

try:  # pragma: no cover - exercised by whichever platform runs the tests
    import durable_rules_engine as _dre
except ImportError:  # pragma: no cover
    _dre = None

_FACT_ID = '"id":"__referral_rules_patient__"'
_RETRACT = "{" + _FACT_ID + "}"  # a fact with an explicit id is retracted by its id alone
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
_INIT_FACT = f'{{"id":"__referral_rules_init__","{RESERVED}":3}}'


# durable_rules' JSON parser rejects a number in exponent form without a decimal point ("1e-05",
# "1e+22": error 204) but reads "1.0e-05" correctly; Python writes the former for small and
# large floats. Fact names and enum values never contain "e-"/"e+", so only numbers match.
_BARE_EXPONENT = re.compile(r"(?<=[:\[,])(-?\d+)(?=[eE][+-]?\d)")


def durable_json(text: str) -> str:
    """JSON text with every exponent-form number written as durable_rules can read it."""
    if "e-" not in text and "e+" not in text and "E" not in text:
        return text
    return _BARE_EXPONENT.sub(r"\1.0", text)


def encode_facts(facts: dict[str, Any]) -> dict[str, str]:
    """Each fact as its JSON member (``"sbp":182``), written as durable_rules reads numbers:
    encoded once per record, then joined for each handle that reads it."""
    return {name: f'"{name}":{_member_value(value)}' for name, value in facts.items()}


def _member_value(value: Any) -> str:
    """JSON of one validated value (a finite number, a boolean or a string), fast."""
    kind = type(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if kind is float:
        text = repr(value)  # what json writes for a finite float
        return text if "e" not in text else durable_json(":" + text)[1:]
    return _ENCODER.encode(value)


def available() -> bool:
    """Whether durable_rules' C extension can be imported on this platform."""
    return _dre is not None


class DurableMatcher:
    """Which rules match a validated fact record, by durable_rules. Thread-safe."""

    def __init__(self, rules: Iterable[CompiledRule]) -> None:
        if _dre is None:
            msg = "durable_rules is not installed; use backend='python'"
            raise EngineError(msg)
        rules = list(rules)
        self.source = durable_json(to_durable(rules))
        digest = hashlib.sha256(self.source.encode()).hexdigest()[:16]
        self.name = f"referral_rules_{digest}"
        # rule name → index; a negated rule's index is stored as -2 - index (init is -1)
        self._index = {rule_name(r.index): r.index for r in rules}
        self._index.update({rule_name(r.index, True): -2 - r.index for r in rules})
        self._index[INIT_RULE] = -1
        self._all = frozenset(r.index for r in rules)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._handles: list[int] = []
        self._handle()  # build eagerly: a broken ruleset fails here, not on a patient

    def _handle(self) -> int:
        handle: int | None = getattr(self._local, "handle", None)
        if handle is None:
            handle = _dre.create_ruleset(self.name, self.source)
            # Create the session state with a match: durable_rules aborts the process in
            # delete_state() for a session that has only ever seen non-matching facts.
            fired = self._run(handle, _INIT_FACT)
            if -1 not in fired:
                _dre.delete_ruleset(handle)
                msg = "durable_rules did not fire its start-up rule"
                raise EngineError(msg)
            self._local.handle = handle
            with self._lock:
                self._handles.append(handle)
        return handle

    def _drop(self, handle: int) -> None:
        self._local.handle = None
        with self._lock:
            if handle in self._handles:
                self._handles.remove(handle)
        try:
            _dre.delete_state(handle, None)
            _dre.delete_ruleset(handle)
        except Exception:  # a broken handle is being thrown away anyway
            pass

    def classify(self, facts: dict[str, Any]) -> tuple[list[int], list[int]]:
        """(fired, undetermined) rule indexes for ``facts`` (validated, no nulls), from one
        assertion: the rules whose condition is true, and those whose condition is neither
        true nor false (its negation is not true either)."""
        return self._split(self._codes(facts))

    def classify_members(self, members: Iterable[str]) -> tuple[list[int], list[int]]:
        """``classify`` for a record given as its JSON members (``encode_facts``)."""
        body = "".join("," + m for m in members)
        return self._split(self._assert("{" + _FACT_ID + f',"{RESERVED}":1' + body + "}"))

    def _split(self, codes: list[int]) -> tuple[list[int], list[int]]:
        fired = [c for c in codes if c >= 0]
        decided = {-2 - c for c in codes if c <= -2}
        decided.update(fired)
        return fired, sorted(self._all.difference(decided))

    def match(self, facts: dict[str, Any]) -> list[int]:
        """Indexes of the rules whose condition holds for ``facts`` (validated, no nulls)."""
        return sorted(c for c in self._codes(facts) if c >= 0)

    def _codes(self, facts: dict[str, Any]) -> list[int]:
        body = durable_json(_ENCODER.encode(facts))
        message = "{" + _FACT_ID + f',"{RESERVED}":1' + ("," + body[1:] if len(body) > 2 else "}")
        return self._assert(message)

    def _assert(self, message: str) -> list[int]:
        for attempt in (1, 2):
            handle = self._handle()
            try:
                return self._run(handle, message)
            except Exception as exc:  # any engine failure: rebuild the handle, retry once
                self._drop(handle)
                if attempt == 2:
                    msg = f"durable_rules failed twice on a validated record: {exc}"
                    raise EngineError(msg) from exc
        raise AssertionError  # pragma: no cover

    def _run(self, handle: int, message: str) -> list[int]:
        actions: list[str] = []
        result = _dre.assert_fact(handle, message)
        try:
            code = result[0]
            if code == 0:
                state = result[1]
                first = _dre.start_action_for_state(handle, state)
                action = first[1] if first else None
                complete, append = _dre.complete_and_start_action, actions.append
                while action:
                    append(action)
                    action = complete(handle, state)
            elif code != 1:  # 1: no rule matched
                msg = f"assert_fact returned code {code}"
                raise EngineError(msg)
        finally:
            _dre.retract_fact(handle, _RETRACT if message is not _INIT_FACT else message)
        # '{"<rule>":{"m":{…the fact…}}}': the rule name is all we need, and parsing the
        # echoed fact would cost more than the match; a rule with an ``or`` fires twice
        index = self._index
        return sorted({index[a[2:a.index('"', 2)]] for a in actions})

    def classify_many(self, records: list[dict[str, Any]]) -> list[tuple[list[int], list[int]]]:
        """``classify`` for many records in one multi-fact assertion (each under its own id),
        one drain and one multi-fact retraction."""
        if not records:
            return []
        parts = []
        for i, facts in enumerate(records):
            body = durable_json(_ENCODER.encode(facts))
            parts.append(f'{{"id":"b{i}","{RESERVED}":1' + ("," + body[1:] if len(body) > 2
                                                          else "}"))
        message = "[" + ",".join(parts) + "]"
        retract = "[" + ",".join(f'{{"id":"b{i}"}}' for i in range(len(records))) + "]"
        for attempt in (1, 2):
            handle = self._handle()
            try:
                codes = self._run_many(handle, message, retract, len(records))
                break
            except Exception as exc:  # any engine failure: rebuild the handle, retry once
                self._drop(handle)
                if attempt == 2:
                    msg = f"durable_rules failed twice on validated records: {exc}"
                    raise EngineError(msg) from exc
        out = []
        everything = self._all
        for found in codes:
            fired = sorted(c for c in found if c >= 0)
            decided = {-2 - c for c in found if c <= -2}
            decided.update(fired)
            out.append((fired, sorted(everything.difference(decided))))
        return out

    def _run_many(self, handle: int, message: str, retract: str, count: int) -> list[set[int]]:
        codes: list[set[int]] = [set() for _ in range(count)]
        result = _dre.assert_facts(handle, message)
        try:
            if result[0] not in (0, 1):
                msg = f"assert_facts returned code {result[0]}"
                raise EngineError(msg)
            state = result[1]
            first = _dre.start_action_for_state(handle, state)
            action = first[1] if first else None
            index = self._index
            while action:
                # '{"<rule>":{"m":{"id":"b<i>",…}}}' (our own text echoed): the rule and the record
                start = action.index('"id":"b', 2) + 7
                codes[int(action[start:action.index('"', start)])].add(
                    index[action[2:action.index('"', 2)]])
                action = _dre.complete_and_start_action(handle, state)
        finally:
            _dre.retract_facts(handle, retract)
        return codes

    def close(self) -> None:
        """Delete every handle (state first: deleting a ruleset alone leaks its state)."""
        with self._lock:
            handles, self._handles = self._handles, []
        for handle in handles:
            try:
                _dre.delete_state(handle, None)
                _dre.delete_ruleset(handle)
            except Exception:  # best effort at shutdown
                pass
        self._local = threading.local()
