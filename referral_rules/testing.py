"""Run the YAML test cases and measure their coverage of rules and thresholds.

Coverage has two parts: every rule is fired by at least one case, and every numeric threshold
has a case exactly on it and one just past it (on the side where the comparison flips; "just"
means within 1 for whole-number thresholds and within one unit of the last decimal otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .bind import thresholds_of
from .decision import Decision
from .errors import FactsError, ReferralRulesError
from .evaluate import Engine
from .ir import Bundle, CaseSpec

__all__ = ["CaseResult", "Coverage", "TestReport", "run_cases"]


@dataclass(frozen=True)
class CaseResult:
    """One case: where it is, whether it passed, and what differed."""

    spec: CaseSpec
    passed: bool
    problems: tuple[str, ...]
    decision: Decision | None

    @property
    def where(self) -> str:
        return f"{self.spec.file}:{self.spec.line}"


@dataclass
class Coverage:
    """Rules never fired by a case, and thresholds without on / just-past cases."""

    rules_total: int = 0
    rules_unfired: list[str] = field(default_factory=list)
    derivations_total: int = 0  # pieces of derived facts (facts.yaml derive:)
    derivations_unused: list[str] = field(default_factory=list)
    thresholds_total: int = 0
    thresholds_uncovered: list[str] = field(default_factory=list)
    gaps: list[tuple[str, str, str]] = field(default_factory=list)  # (ruleset, owner, text)

    @property
    def percent(self) -> float:
        total = self.rules_total + self.derivations_total + self.thresholds_total
        missing = (len(self.rules_unfired) + len(self.derivations_unused)
                   + len(self.thresholds_uncovered))
        return 100.0 if total == 0 else 100.0 * (total - missing) / total


@dataclass
class TestReport:
    """All case results and the coverage."""

    results: list[CaseResult]
    coverage: Coverage

    @property
    def failed(self) -> list[CaseResult]:
        return [r for r in self.results if not r.passed]

    @property
    def ok(self) -> bool:
        return not self.failed and self.coverage.percent >= 100.0


def _check(spec: CaseSpec, d: Decision) -> list[str]:
    e = spec.expect
    given = e.model_fields_set
    problems: list[str] = []

    def differ(what: str, want: object, got: object) -> None:
        problems.append(f"{what}: expected {want!r}, got {got!r}")

    if "direction" in given and e.direction != d.direction:
        differ("direction", e.direction, d.direction)
    if "urgency" in given and e.urgency != d.urgency:
        differ("urgency", e.urgency, d.urgency)
    if "target_level" in given and e.target_level != d.target_level:
        differ("target_level", e.target_level, d.target_level)
    if e.fired is not None and sorted(e.fired) != sorted(d.fired_ids):
        differ("fired", sorted(e.fired), sorted(d.fired_ids))
    if e.not_fired is not None:
        wrong = sorted(set(e.not_fired) & set(d.fired_ids))
        if wrong:
            problems.append(f"not_fired: {wrong} fired")
    if e.records is not None and sorted(e.records) != sorted(d.record_ids):
        differ("records", sorted(e.records), sorted(d.record_ids))
    if e.deferrable is not None:
        got = sorted(r.id for r in d.records if r.deferrable)
        if sorted(e.deferrable) != got:
            differ("deferrable", sorted(e.deferrable), got)
    if e.refusal is not None and e.refusal != d.refusal.status:
        differ("refusal", e.refusal, d.refusal.status)
    if e.complete is not None and e.complete != d.complete:
        differ("complete", e.complete, d.complete)
    if e.missing is not None:
        got_missing = {m.fact for m in d.missing_facts}
        lacking = sorted(set(e.missing) - got_missing)
        if lacking:
            problems.append(f"missing: expected {lacking} to be listed, got {sorted(got_missing)}")
    if e.confirm is not None:
        got_confirm = sorted(m.fact for m in d.confirm_before_transfer)
        if sorted(e.confirm) != got_confirm:
            differ("confirm", sorted(e.confirm), got_confirm)
    if e.possible_emergencies is not None:
        got_possible = sorted(p.rule for p in d.possible_emergencies)
        if sorted(e.possible_emergencies) != got_possible:
            differ("possible_emergencies", sorted(e.possible_emergencies), got_possible)
    if e.derived is not None:
        got_derived = {f.fact: f.value for f in d.derived_facts}
        for fact, value in e.derived.items():
            if fact not in got_derived or got_derived[fact] != value \
                    or (type(got_derived[fact]) is bool and type(value) is not bool):
                differ(f"derived {fact}", value, got_derived.get(fact))
    if "destination" in given:
        got_kind = d.destination.kind if d.destination is not None else None
        if e.destination != got_kind:
            differ("destination", e.destination, got_kind)
    return problems


def _step(threshold: float) -> Decimal:
    exponent = Decimal(repr(threshold)).normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return Decimal(1) if exponent >= 0 else Decimal(1).scaleb(exponent)


def _just_past(op: str, threshold: float, value: float) -> bool:
    t, v, step = Decimal(repr(threshold)), Decimal(repr(value)), _step(threshold)
    if op in (">=", "<"):
        return t - step <= v < t
    return t < v <= t + step


def run_cases(bundle: Bundle, engine: Engine) -> TestReport:
    """Run every case of ``bundle`` on ``engine``; measure rule and threshold coverage."""
    results: list[CaseResult] = []
    fired_by_cases: set[str] = set()
    values_by_ruleset: dict[str, dict[str, list[float]]] = {}
    derived_by_cases: set[tuple[str, int]] = set()
    all_values: dict[str, list[float]] = {}
    for spec in bundle.cases:
        try:
            decision = engine.evaluate(spec.case.facts, spec.conditions)
            record = engine.prepare(spec.case.facts)
        except (FactsError, ReferralRulesError) as exc:
            results.append(CaseResult(spec, False, (f"error: {exc}",), None))
            continue
        problems = _check(spec, decision)
        results.append(CaseResult(spec, not problems, tuple(problems), decision))
        fired_by_cases.update(decision.fired_ids)
        derived_by_cases.update(engine.derivations(spec.case.facts))
        numbers = {f: float(v) for f, v in record.items()
                   if isinstance(v, int | float) and not isinstance(v, bool)}
        for fact, value in numbers.items():
            all_values.setdefault(fact, []).append(value)
        for cond in spec.conditions if spec.conditions is not None else bundle.rulesets:
            seen = values_by_ruleset.setdefault(cond, {})
            for fact, value in numbers.items():
                seen.setdefault(fact, []).append(value)
    coverage = Coverage()
    _cover_derivations(bundle, coverage, derived_by_cases, all_values)
    for rs in bundle.rulesets.values():
        seen = values_by_ruleset.get(rs.id, {})
        done: set[tuple[str, str, float]] = set()
        for rule in rs.rules:
            coverage.rules_total += 1
            if rule.id not in fired_by_cases:
                coverage.rules_unfired.append(rule.id)
        for owner, thresholds in rs.thresholds.items():
            for fact, op, threshold in thresholds:
                _cover_threshold(coverage, done, seen, rs.id, owner, fact, op, threshold)
    return TestReport(results, coverage)


def _cover_threshold(coverage: Coverage, done: set[tuple[str, str, float]],
                     seen: dict[str, list[float]], where: str, owner: str, fact: str, op: str,
                     threshold: float) -> None:
    """Count one threshold (once per fact, boundary and value) and record a gap unless the
    cases hold a value on it and one just past it."""
    key = (fact, ">=" if op in (">=", "<") else ">", threshold)
    if key in done:
        return
    done.add(key)
    coverage.thresholds_total += 1
    values = seen.get(fact, [])
    on = any(v == threshold for v in values)
    past = any(_just_past(op, threshold, v) for v in values)
    if not (on and past):
        lacking = " and ".join(w for w, ok in (("on", on), ("just past", past)) if not ok)
        text = f"{where}: {fact} {op} {threshold:g} ({owner}) has no case {lacking} it"
        coverage.thresholds_uncovered.append(text)
        coverage.gaps.append((where, owner, text))


def _cover_derivations(bundle: Bundle, coverage: Coverage, used: set[tuple[str, int]],
                       values: dict[str, list[float]]) -> None:
    """Every derivation piece is used by a case, and its thresholds are tested on and just
    past, like a rule's."""
    done: set[tuple[str, str, float]] = set()
    for derived in bundle.derived:
        owner = f"derivation of {derived.fact}"
        for index, piece in enumerate(derived.pieces):
            coverage.derivations_total += 1
            if (derived.fact, index) not in used:
                coverage.derivations_unused.append(f"{derived.fact} (piece {index + 1})")
            for atom in thresholds_of(piece.when):
                _cover_threshold(coverage, done, values, "facts", owner, atom.fact, atom.op,
                                 atom.number)


def summary(report: TestReport) -> dict[str, Any]:
    """The report as JSON-ready data."""
    return {
        "passed": sum(r.passed for r in report.results),
        "failed": len(report.failed),
        "cases": [
            {"file": r.spec.file, "line": r.spec.line, "name": r.spec.case.name,
             "criterion": r.spec.case.criterion, "passed": r.passed,
             "problems": list(r.problems)}
            for r in report.results
        ],
        "coverage": {
            "percent": round(report.coverage.percent, 1),
            "rules_total": report.coverage.rules_total,
            "rules_unfired": report.coverage.rules_unfired,
            "derivations_total": report.coverage.derivations_total,
            "derivations_unused": report.coverage.derivations_unused,
            "thresholds_total": report.coverage.thresholds_total,
            "thresholds_uncovered": report.coverage.thresholds_uncovered,
        },
        "ok": report.ok,
    }
