"""The YAML cases of every bundled ruleset, as tests, on both backends; and their coverage."""

from __future__ import annotations

import dataclasses

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
    assert report.coverage.derivations_unused == [] and report.coverage.derivations_total > 0
    assert report.coverage.thresholds_uncovered == []
    assert report.coverage.percent == 100.0


def test_case_counts_per_condition() -> None:
    """At least 15 cases per condition; hypertension has a positive and boundary per rule."""
    by_file: dict[str, int] = {}
    for spec in CASES:
        for cond in spec.conditions or ():
            by_file[cond] = by_file.get(cond, 0) + 1
    for cond in ("hypertension", "diabetes", "chest_pain", "post_operative"):
        assert by_file.get(cond, 0) >= 15, cond


def test_each_condition_has_six_sparse_cases_with_every_ruleset_loaded() -> None:
    """Issue 10: sparse records (only what an HIS holds), evaluated like the library, the
    service and batch do by default: every ruleset, each where its scope holds."""
    by_file: dict[str, int] = {}
    for spec in CASES:
        if spec.conditions is None:
            name = spec.file.rsplit("/", 1)[-1].removesuffix(".yaml")
            by_file[name] = by_file.get(name, 0) + 1
            # sparse: no symptom recorded as absent just to satisfy a rule
            falses = [k for k, v in spec.case.facts.items() if v is False]
            assert len(falses) <= 2, (spec.case.name, falses)
    for name in ("hypertension", "diabetes", "chest_pain", "post_operative", "cross_condition"):
        assert by_file.get(name, 0) >= 6, name


def test_sparse_cases_cover_what_issue_10_names(python_engine: Engine) -> None:
    """Discharge-ready inpatients go down with a checklist; a STEMI ECG with chest pain now and
    unknown onset is an emergency; a county STEMI without PCI goes up; a thermometer reading, a
    foot ulcer and an HbA1c each decide what they should."""
    ev = python_engine.evaluate
    d = ev({"care_level": "tertiary", "visit_type": "inpatient", "post_operative": True,
            "days_since_surgery": 6, "body_temperature": 36.8, "self_care_basic": True,
            "tolerating_semi_liquid_diet": True, "flatus_and_stool_passed": True,
            "wound_healing_well": True, "walking_freely": True, "oral_analgesia_effective": True})
    assert d.direction == "down" and d.confirm_before_transfer
    d = ev({"care_level": "primary", "chest_pain_now": True, "stemi_ecg": True})
    assert (d.direction, d.urgency) == ("up", "emergency")
    d = ev({"care_level": "secondary", "facility_pci_capable": False, "stemi_ecg": True,
            "hours_since_chest_pain_onset": 2})
    assert (d.direction, d.urgency, d.fired_ids) == ("up", "emergency", ("CP-E5-NO-PCI",))
    assert d.destination is not None and d.destination.capability == "pci"
    d = ev({"care_level": "tertiary", "post_operative": True, "body_temperature": 38.2,
            "visit_type": "inpatient", "days_since_surgery": 4})
    assert d.direction == "stay" and "PO-S-INFECTION" in d.fired_ids
    d = ev({"care_level": "primary", "known_diabetes": True, "diabetic_foot_ulcer": True})
    assert "DM-E3-FOOT-MDT" in d.fired_ids
    d = ev({"care_level": "primary", "known_diabetes": True, "hba1c": 9.1,
            "dm_treatment_months": 6})
    assert "DM-U6-NOT-AT-TARGET" in d.fired_ids


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


def test_a_derivation_threshold_without_cases_is_a_gap(python_engine: Engine) -> None:
    """Derivation pieces are covered like rules: without the cases that hold a body
    temperature, its derivation's thresholds are reported on and just past."""
    bundle = python_engine.bundle
    kept = tuple(c for c in bundle.cases if "body_temperature" not in c.case.facts)
    assert len(kept) < len(bundle.cases)
    report = run_cases(dataclasses.replace(bundle, cases=kept), python_engine)
    assert ("facts: body_temperature > 37 (derivation of temperature_normal) has no case on "
            "and just past it") in report.coverage.thresholds_uncovered
    assert any(g[0] == "facts" and g[1] == "derivation of temperature_normal"
               for g in report.coverage.gaps)
    assert report.coverage.percent < 100.0
