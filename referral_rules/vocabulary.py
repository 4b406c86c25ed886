"""The fact vocabulary, and strict validation of a patient record against it.

durable_rules coerces silently (``"90"`` fires ``sbp >= 180``, a missing key is a silent
non-match, NaN never matches), so every record is validated here first: wrong type, NaN or
infinity, out-of-range, a value not allowed, an unknown name (with did-you-mean) and a missing
required fact each give a ``FactIssue`` naming the fact. ``null`` means absent.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from .bind import FactInfo
from .errors import FactIssue, FactsError, closest_name
from .model import FactSpec, VocabularyFile

__all__ = ["Vocabulary"]

MAX_FACTS = 240  # durable_rules rejects facts with more than 255 properties


class Vocabulary:
    """Every fact a rule or a patient record may use, with a validator for records."""

    def __init__(self, spec: VocabularyFile) -> None:
        self.spec = spec
        self.version = spec.version
        self.facts: dict[str, FactSpec] = dict(spec.facts)
        self.info: dict[str, FactInfo] = {
            name: FactInfo(
                fact.type,
                tuple(fact.values or ()),
                fact.unit,
                (fact.range[0], fact.range[1]) if fact.range else None,
            )
            for name, fact in self.facts.items()
        }
        self.required = tuple(n for n, f in self.facts.items() if f.required)
        self.model = _patient_model(self.facts)
        self._checks = {name: _check(fact) for name, fact in self.facts.items()}

    def json_schema(self) -> dict[str, Any]:
        """JSON Schema of a patient record (for integrators and the service's OpenAPI)."""
        return self.model.model_json_schema()

    def validate(self, record: object) -> dict[str, Any]:
        """Return the record's present facts, or raise FactsError naming every bad fact."""
        if not isinstance(record, Mapping):
            kind = type(record).__name__
            issue = FactIssue("(record)", "not-an-object", f"facts must be an object, got {kind}")
            raise FactsError([issue])
        fast = self._fast(record)
        if fast is not None:
            return fast
        record = self._whole_numbers(record)
        fast = self._fast(record)
        if fast is not None:
            return fast
        try:
            self.model.model_validate(record)
        except ValidationError as exc:
            raise FactsError(self._issues(exc, record)) from None
        return {k: v for k, v in record.items() if v is not None}

    def _whole_numbers(self, record: Mapping[Any, Any]) -> Mapping[Any, Any]:
        """``64.0`` for a whole-number fact is 64: JSON does not tell 64 from 64.0 (JSON Schema
        "integer" accepts both), and many serialisers write every number with a decimal point.
        """
        changed = {name: int(value) for name, value in record.items()
                   if type(value) is float and value.is_integer()
                   and name in self.facts and self.facts[name].type == "integer"}
        return {**record, **changed} if changed else record

    def _fast(self, record: Mapping[Any, Any]) -> dict[str, Any] | None:
        """The hot path: the same checks as the pydantic model, for a record that passes them.

        Returns None at the first doubt; the pydantic model then gives the full error report.
        """
        checks = self._checks
        out: dict[str, Any] = {}
        for name, value in record.items():
            if value is None:
                continue
            check = checks.get(name)
            if check is None or not check(value):
                return None
            out[name] = value
        for name in self.required:
            if name not in out:
                return None
        return out

    def _issues(self, exc: ValidationError, record: Mapping[Any, Any]) -> list[FactIssue]:
        issues: list[FactIssue] = []
        for err in exc.errors(include_url=False):
            name = str(err["loc"][0]) if err["loc"] else "(record)"
            issues.append(self._issue(name, err["type"], record.get(name)))
        return issues

    def _issue(self, name: str, kind: str, value: object) -> FactIssue:
        fact = self.facts.get(name)
        if fact is None:
            close = closest_name(name, self.facts)
            known = f"did you mean '{close}'?" if close else "see docs/facts.md for the names"
            return FactIssue(name, "unknown-fact", f"unknown fact '{name}'", known)
        got = _describe(value)
        if kind == "missing":
            return FactIssue(name, "missing-required", f"'{name}' is required ({fact.en})")
        if kind == "finite_number" or (isinstance(value, float) and not math.isfinite(value)):
            return FactIssue(name, "not-finite", f"'{name}' must be a finite number (got {got})")
        if fact.type in ("number", "integer"):
            lo, hi = fact.range or (-math.inf, math.inf)
            unit = f" in {fact.unit}" if fact.unit else ""
            if isinstance(value, int | float) and not isinstance(value, bool) and kind in (
                "greater_than_equal", "less_than_equal"
            ):
                unit_text = f" {fact.unit}" if fact.unit else ""
                msg = f"'{name}' must be between {_num(lo)} and {_num(hi)}{unit_text} (got {got})"
                return FactIssue(name, "out-of-range", msg, "check the value and its unit")
            what = "a whole number" if fact.type == "integer" else "a number"
            hint: str | None = "send numbers without quotes" if isinstance(value, str) else None
            msg = f"'{name}' must be {what}{unit} (got {got})"
            return FactIssue(name, "wrong-type", msg, hint)
        if fact.type == "boolean":
            bool_hint = ("send true or false without quotes" if isinstance(value, str | int)
                         else None)
            return FactIssue(name, "wrong-type", f"'{name}' must be true or false (got {got})",
                             bool_hint)
        allowed = ", ".join(fact.values or [])
        if not isinstance(value, str):
            msg = f"'{name}' must be one of {allowed} (got {got})"
            return FactIssue(name, "wrong-type", msg)
        near = closest_name(value, fact.values or [], cutoff=0.5)
        enum_hint = f"did you mean '{near}'?" if near else None
        msg = f"'{name}' must be one of {allowed} (got {got})"
        return FactIssue(name, "not-allowed", msg, enum_hint)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _describe(value: object) -> str:
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"'{shown}', a string"
    if isinstance(value, bool):
        return f"{str(value).lower()}, a boolean"
    if isinstance(value, int | float):
        return repr(value)
    return f"a {type(value).__name__}"


def _check(fact: FactSpec) -> Callable[[Any], bool]:
    """A predicate equivalent to the strict pydantic field (valid values only)."""
    if fact.type == "boolean":
        return lambda v: v is True or v is False
    if fact.type == "enum":
        allowed = frozenset(fact.values or ())
        return lambda v: type(v) is str and v in allowed
    lo, hi = fact.range or (-math.inf, math.inf)
    if fact.type == "integer":
        return lambda v: type(v) is int and lo <= v <= hi
    return lambda v: (type(v) is int or (type(v) is float and math.isfinite(v))) and lo <= v <= hi


def _field_type(fact: FactSpec) -> Any:
    if fact.type == "boolean":
        return bool
    if fact.type == "enum":
        return Literal[tuple(fact.values or ())]
    lo, hi = fact.range or (None, None)
    base = float if fact.type == "number" else int
    return Annotated[base, Field(ge=lo, le=hi, allow_inf_nan=False)]


def _patient_model(facts: Mapping[str, FactSpec]) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for name, fact in facts.items():
        desc = f"{fact.en} / {fact.zh}" + (f" [{fact.unit}]" if fact.unit else "")
        if fact.required:
            fields[name] = (_field_type(fact), Field(description=desc))
        else:
            fields[name] = (_field_type(fact) | None, Field(None, description=desc))
    config = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False)
    model: type[BaseModel] = create_model("PatientFacts", __config__=config, **fields)
    return model
