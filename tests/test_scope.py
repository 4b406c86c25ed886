"""Ruleset scope (applies_to) and derived facts, on a small fixture independent of clinical
content: a ruleset runs only for patients in its scope; with its scope unknown it only raises
emergencies that are true on the recorded facts; derived facts follow from recorded ones and a
recorded value always wins (criteria.md §0, conventions 4 and 5)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from referral_rules import Decision, Engine, FactsError, RulesetError, load_rulesets

SCOPED = Path(__file__).parent / "fixtures" / "scoped"


@pytest.fixture(scope="module", params=["durable", "python"])
def engine(request: pytest.FixtureRequest) -> Engine:
    return Engine(load_rulesets(SCOPED), request.param)


def alpha_quiet(**facts: Any) -> dict[str, Any]:
    """Alpha (always in scope) knows everything and fires nothing."""
    base: dict[str, Any] = {"care_level": "secondary", "e": False, "u": False, "d": False,
                            "t3": False, "x": 30.0}
    base.update(facts)
    return base


def scope_of(decision: Decision, ruleset: str) -> str | None:
    return next(r.scope for r in decision.rulesets if r.id == ruleset)


def test_out_of_scope_ruleset_does_not_run(engine: Engine) -> None:
    d = engine.evaluate(alpha_quiet(g=False, ge=True, gd=True))
    assert scope_of(d, "gamma") == "not_applicable"
    assert "G-E" not in d.fired_ids and d.direction == "stay"
    assert d.possible_emergencies == ()


def test_unknown_scope_raises_only_true_emergencies(engine: Engine) -> None:
    d = engine.evaluate(alpha_quiet(ge=True, gd=True))
    assert scope_of(d, "gamma") == "unknown"
    assert d.fired_ids == ("G-E",)  # the down rule neither advises nor blocks
    assert (d.direction, d.urgency) == ("up", "emergency")


def test_unknown_scope_neither_advises_nor_blocks(engine: Engine) -> None:
    d = engine.evaluate(alpha_quiet(gd=True, y=90.0))  # G-D true, G-S derived true
    assert d.fired_ids == () and d.direction == "stay"
    assert d.missing_facts == () and d.possible_emergencies == ()  # not in scope: not asked
    assert "no_criterion_met" in [r.code for r in d.reasons]


def test_in_scope_undetermined_emergency_is_a_possible_emergency(engine: Engine) -> None:
    d = engine.evaluate(alpha_quiet(g=True, gd=True, y=10.0))
    assert scope_of(d, "gamma") == "applies"
    assert d.direction == "down"
    assert [p.rule for p in d.possible_emergencies] == ["G-E"]
    assert [c.fact for c in d.possible_emergencies[0].check] == ["ge"]
    assert [(m.fact, m.effect) for m in d.confirm_before_transfer] == [
        ("ge", "emergency"), ("kilograms", "up")]


def test_requested_ruleset_runs_whatever_its_scope(engine: Engine) -> None:
    d = engine.evaluate({"care_level": "secondary", "g": False, "ge": True}, ["gamma"])
    assert scope_of(d, "gamma") == "requested"
    assert d.fired_ids == ("G-E",)


def test_no_ruleset_in_scope_says_so(python_engine: Engine) -> None:
    """On the bundled rulesets: nothing recorded brings any condition into scope."""
    d = python_engine.evaluate({"care_level": "primary", "age": 40, "sex": "female"})
    assert [r.code for r in d.reasons] == ["no_ruleset_applies"]
    assert {r.scope for r in d.rulesets if r.scope} == {"unknown"}
    assert d.direction == "stay" and d.possible_emergencies == () and d.missing_facts == ()
    d = python_engine.evaluate({"care_level": "primary", "age": 40}, ["hypertension"])
    assert "no_ruleset_applies" not in [r.code for r in d.reasons]


def test_derived_fact_holds_the_patient_and_says_from_what(engine: Engine) -> None:
    d = engine.evaluate(alpha_quiet(g=True, gd=True, ge=False, grams=100, y=85.0))
    assert d.direction == "stay" and set(d.fired_ids) == {"G-D", "G-S"}
    (derived,) = [f for f in d.derived_facts if f.fact == "gs"]
    assert (derived.value, derived.derived_from) == (True, {"y": 85.0})
    assert derived.citations[0].clause == "y high" and derived.convention is None
    fired = next(r for r in d.fired if r.id == "G-S")
    assert fired.derived == ("gs",)


def test_recorded_value_wins_over_a_derived_one(engine: Engine) -> None:
    d = engine.evaluate(alpha_quiet(g=True, gd=True, ge=False, grams=100, y=85.0, gs=False))
    assert d.direction == "down"
    assert all(f.fact != "gs" for f in d.derived_facts)


def test_unknown_piece_stops_the_derivation(engine: Engine) -> None:
    """Between the pieces' thresholds nothing is derived: the fact stays unrecorded."""
    d = engine.evaluate(alpha_quiet(g=True, gd=True, ge=False, grams=100, y=50.0))
    assert d.direction == "down"
    assert [m.fact for m in d.confirm_before_transfer] == ["gs"]
    assert d.confirm_before_transfer[0].derivable_from == ("y",)


def test_computed_derivation_converts_units(engine: Engine) -> None:
    d = engine.evaluate(alpha_quiet(g=True, gd=False, ge=False, grams=4200, y=50.0, gs=False))
    assert d.fired_ids == ("G-U",)
    (derived,) = d.derived_facts
    assert (derived.fact, derived.value, derived.derived_from) == (
        "kilograms", 4.2, {"grams": 4200})


def test_derived_value_out_of_range_names_its_inputs(engine: Engine) -> None:
    with pytest.raises(FactsError) as info:
        engine.evaluate(alpha_quiet(g=True, grams=4999.0 * 2 / 1.999))
    assert "grams" in str(info.value) or "out-of-range" in str(info.value)


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    for f in SCOPED.iterdir():
        shutil.copy(f, tmp_path / f.name)
    path = tmp_path / "facts.yaml"
    text = path.read_text("utf-8")
    assert old in text
    path.write_text(text.replace(old, new), "utf-8")
    return tmp_path


def test_derivation_cycle_is_located(tmp_path: Path) -> None:
    directory = _broken(tmp_path, "      - when: grams is present",
                        "      - when: grams is present and kilograms >= 0")
    with pytest.raises(RulesetError) as info:
        load_rulesets(directory)
    (issue,) = [i for i in info.value.issues if i.code == "definition-cycle"]
    assert issue.file.endswith("facts.yaml") and "kilograms → kilograms" in issue.message


def test_derivation_value_of_the_wrong_type_is_located(tmp_path: Path) -> None:
    cite = '        citation: {source: T, clause: "y high"}'
    directory = _broken(tmp_path, f"        value: true\n{cite}", f"        value: 3\n{cite}")
    with pytest.raises(RulesetError) as info:
        load_rulesets(directory)
    (issue,) = info.value.issues
    assert (issue.code, issue.path) == ("type-mismatch", "facts.gs.derive.0.value")
    assert "true or false" in issue.message and issue.line > 1


def test_derivation_without_citation_or_convention_is_an_error(tmp_path: Path) -> None:
    directory = _broken(tmp_path, "        convention: {zh: 测试约定, en: test convention}\n", "")
    with pytest.raises(RulesetError) as info:
        load_rulesets(directory)
    (issue,) = info.value.issues
    assert issue.code == "missing-citation" and "convention" in (issue.suggestion or "")


def test_unknown_fact_in_a_derivation_has_a_suggestion(tmp_path: Path) -> None:
    directory = _broken(tmp_path, "compute: grams / 1000", "compute: gram / 1000")
    with pytest.raises(RulesetError) as info:
        load_rulesets(directory)
    (issue,) = info.value.issues
    assert issue.code == "unknown-fact" and issue.suggestion == "did you mean 'grams'?"
