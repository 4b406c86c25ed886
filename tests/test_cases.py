"""The YAML cases of every bundled ruleset, as tests, on both backends; and their coverage."""

from __future__ import annotations

import pytest

from referral_rules import Engine, load_rulesets
from referral_rules.ir import CaseSpec
from referral_rules.testing import _check, run_cases

from .conftest import RULES

CASES: list[CaseSpec] = list(load_rulesets(RULES).cases)


@pytest.mark.parametrize("spec", CASES, ids=[f"{c.file.split('/')[-1]}:{c.line}" for c in CASES])
def test_yaml_case(spec: CaseSpec, engine: Engine) -> None:
    decision = engine.evaluate(spec.case.facts, spec.conditions)
    assert _check(spec, decision) == [], spec.case.name


def test_every_rule_and_threshold_is_covered(python_engine: Engine) -> None:
    report = run_cases(python_engine.bundle, python_engine)
    assert report.coverage.rules_unfired == []
    assert report.coverage.thresholds_uncovered == []
    assert report.coverage.percent == 100.0


def test_case_counts_per_condition() -> None:
    """At least 15 cases per condition; hypertension has a positive and boundary per rule."""
    by_file: dict[str, int] = {}
    for spec in CASES:
        for cond in spec.conditions:
            by_file[cond] = by_file.get(cond, 0) + 1
    for cond in ("hypertension", "diabetes", "chest_pain", "post_operative"):
        assert by_file.get(cond, 0) >= 15, cond


def test_every_case_names_its_criterion() -> None:
    missing = [c.case.name for c in CASES if not c.case.criterion]
    assert missing == []


def test_a_failing_case_is_reported(tmp_path: object, python_engine: Engine) -> None:
    """The checker can fail: a case expecting the wrong direction is caught."""
    spec = next(c for c in CASES if c.expect.direction == "up")
    wrong = spec.expect.model_copy(update={"direction": "down"})
    bad = CaseSpec(spec.case, wrong, spec.conditions, spec.file, spec.line, spec.index)
    decision = python_engine.evaluate(spec.case.facts, spec.conditions)
    assert _check(bad, decision) == ["direction: expected 'down', got 'up'"]
