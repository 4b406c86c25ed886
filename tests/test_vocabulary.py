"""Patient records are validated strictly before any engine sees them."""

from __future__ import annotations

import math
from typing import Any

import pytest

from referral_rules import Engine, FactsError


def issues(engine: Engine, record: Any) -> dict[str, str]:
    with pytest.raises(FactsError) as info:
        engine.evaluate(record)
    return {i.fact: i.code for i in info.value.issues}


def test_string_for_a_number_is_rejected_naming_the_fact(python_engine: Engine) -> None:
    """{"sbp": "90"} is never evaluated (durable_rules would compare it as a string)."""
    with pytest.raises(FactsError) as info:
        python_engine.evaluate({"care_level": "primary", "sbp": "90"})
    (issue,) = info.value.issues
    assert issue.fact == "sbp"
    assert issue.code == "wrong-type"
    assert "'90', a string" in issue.message
    assert issue.suggestion == "send numbers without quotes"


@pytest.mark.parametrize(
    ("fact", "value", "code"),
    [
        ("sbp", "90", "wrong-type"),
        ("sbp", True, "wrong-type"),
        ("sbp", math.nan, "not-finite"),
        ("sbp", math.inf, "not-finite"),
        ("sbp", 1800, "out-of-range"),
        ("sbp", -5, "out-of-range"),
        ("age", 45.5, "wrong-type"),
        ("consciousness_impaired", "true", "wrong-type"),
        ("consciousness_impaired", 1, "wrong-type"),
        ("care_level", "community", "not-allowed"),
        ("care_level", 1, "wrong-type"),
        ("accepts_transfer", False, "wrong-type"),
    ],
)
def test_bad_values_are_structured_errors(
    python_engine: Engine, fact: str, value: object, code: str
) -> None:
    record = {"care_level": "primary", fact: value}
    assert issues(python_engine, record) == {fact: code}


def test_unknown_fact_has_did_you_mean(python_engine: Engine) -> None:
    with pytest.raises(FactsError) as info:
        python_engine.evaluate({"care_level": "primary", "spb": 150})
    (issue,) = info.value.issues
    assert (issue.fact, issue.code, issue.suggestion) == ("spb", "unknown-fact",
                                                          "did you mean 'sbp'?")


@pytest.mark.parametrize(("sent", "meant"), [("sbp_mmhg", "sbp"), ("hba1c_percent", "hba1c"),
                                             ("egfr_ckd_epi", "egfr")])
def test_unknown_fact_with_a_unit_suffix_suggests_the_fact(
        python_engine: Engine, sent: str, meant: str) -> None:
    """An HIS field name with a unit or method appended (style.md's example)."""
    with pytest.raises(FactsError) as info:
        python_engine.evaluate({"care_level": "primary", sent: 1})
    (issue,) = info.value.issues
    assert (issue.fact, issue.suggestion) == (sent, f"did you mean '{meant}'?")


def test_every_bad_fact_is_reported_at_once(python_engine: Engine) -> None:
    found = issues(python_engine, {"care_level": "primary", "sbp": "1", "dbp": 900, "x1": 1})
    assert found == {"sbp": "wrong-type", "dbp": "out-of-range", "x1": "unknown-fact"}


def test_required_fact_and_reserved_names(python_engine: Engine) -> None:
    assert issues(python_engine, {"sbp": 120}) == {"care_level": "missing-required"}
    assert issues(python_engine, {"care_level": "primary", "id": "x"}) == {"id": "unknown-fact"}
    assert issues(python_engine, {"care_level": "primary", "_rr": 2}) == {"_rr": "unknown-fact"}


def test_not_an_object(python_engine: Engine) -> None:
    for record in ([1, 2], "sbp=180", None, 5):
        assert issues(python_engine, record) == {"(record)": "not-an-object"}


def test_null_means_absent(python_engine: Engine) -> None:
    with_null = python_engine.evaluate({"care_level": "primary", "sbp": None, "dbp": 95})
    without = python_engine.evaluate({"care_level": "primary", "dbp": 95})
    assert with_null.to_json() == without.to_json()


def test_integer_accepted_for_a_number(python_engine: Engine) -> None:
    record = python_engine.validate({"care_level": "primary", "sbp": 180})
    assert record == {"care_level": "primary", "sbp": 180}


def test_whole_float_accepted_for_a_whole_number(python_engine: Engine) -> None:
    """JSON does not tell 64 from 64.0 (JSON Schema "integer" accepts both): 64.0 is 64."""
    record = python_engine.validate({"care_level": "primary", "age": 64.0, "sbp": 180.0})
    assert record == {"care_level": "primary", "age": 64, "sbp": 180.0}
    assert type(record["age"]) is int
    a = python_engine.evaluate({"care_level": "primary", "age": 64.0, "sbp": 185})
    b = python_engine.evaluate({"care_level": "primary", "age": 64, "sbp": 185})
    assert a.to_json() == b.to_json()


def test_vocabulary_json_schema_names_every_fact(python_engine: Engine) -> None:
    schema = python_engine.vocabulary.json_schema()
    assert set(schema["properties"]) == set(python_engine.vocabulary.facts)
    assert schema["required"] == ["care_level"]
    assert schema["additionalProperties"] is False


_VALUES: list[object] = [None, True, False, 0, 1, -1, 45, 45.0, 45.5, 180, 1800, 3.9, float("nan"),
           float("inf"), "90", "true", "primary", "no", "yes", "female", [], {}]


def test_fast_path_agrees_with_the_pydantic_model(python_engine: Engine) -> None:
    """The hand-written hot path accepts exactly what the strict pydantic model accepts."""
    from pydantic import ValidationError

    vocab = python_engine.vocabulary
    for name in vocab.facts:
        for value in _VALUES:
            record = {"care_level": "primary", name: value}
            if name == "care_level":
                record = {name: value}
            try:
                vocab.model.model_validate(record)
                accepted = True
            except ValidationError:
                accepted = False
            assert (vocab._fast(record) is not None) == accepted, (name, value)
