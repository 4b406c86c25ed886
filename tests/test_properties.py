"""Clinical invariants on generated patients (Hypothesis)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from referral_rules import Bundle, Engine
from referral_rules.synthetic import patients

from .conftest import RULES

_BUNDLE: Bundle | None = None


def _bundle() -> Bundle:
    global _BUNDLE
    if _BUNDLE is None:
        from referral_rules import load_rulesets

        _BUNDLE = load_rulesets(RULES)
    return _BUNDLE


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    seed = draw(st.integers(0, 2**32 - 1))
    present = draw(st.sampled_from([0.1, 0.3, 0.6, 0.9]))
    return next(patients(_bundle(), 1, seed=seed, present=present))


@given(record=records())
def test_decisions_are_deterministic(record: dict[str, Any], durable: Engine) -> None:
    assert durable.evaluate(record).to_json() == durable.evaluate(dict(record)).to_json()


@given(record=records())
def test_backends_agree(record: dict[str, Any], durable: Engine, python_engine: Engine) -> None:
    assert durable.evaluate(record).to_json() == python_engine.evaluate(record).to_json()


@given(record=records())
def test_fired_rules_exist_and_matched_values_come_from_the_record(
    record: dict[str, Any], python_engine: Engine
) -> None:
    decision = python_engine.evaluate(record)
    prepared = python_engine.prepare(record)
    ids = {r.id for r in python_engine.bundle.rules}
    for fired in decision.fired:
        assert fired.id in ids
        assert fired.citations
        for fact, value in fired.matched.items():
            assert prepared[fact] == value


@given(record=records(), data=st.data())
def test_forgetting_facts_never_quietly_sends_a_patient_down(
    record: dict[str, Any], data: st.DataObject, python_engine: Engine
) -> None:
    """If removing facts turns the advice into a down-transfer, the decision says it is
    incomplete: a missing value never triggers a down-transfer on its own."""
    keys = sorted(k for k in record if k != "care_level")
    drop = data.draw(st.sets(st.sampled_from(keys)) if keys else st.just(set()))
    partial = {k: v for k, v in record.items() if k not in drop}
    before, after = python_engine.evaluate(record), python_engine.evaluate(partial)
    if after.direction == "down" and before.direction != "down":
        assert not after.complete


@given(record=records())
def test_refusal_follows_the_direction(record: dict[str, Any], python_engine: Engine) -> None:
    declined = python_engine.evaluate({**record, "accepts_transfer": "no"})
    accepted = python_engine.evaluate({**record, "accepts_transfer": "yes"})
    assert declined.direction == accepted.direction
    if accepted.direction in ("up", "down"):
        assert (accepted.refusal.status, declined.refusal.status) == (
            "required_if_declined", "required_now")
        assert "signed_refusal" in declined.record_ids
        assert not declined.refusal.transfer_proceeds
    else:
        assert declined.refusal.status == accepted.refusal.status == "not_applicable"
        assert declined.records == accepted.records == ()


@given(record=records())
def test_nothing_goes_above_tertiary_or_below_primary(
    record: dict[str, Any], python_engine: Engine
) -> None:
    decision = python_engine.evaluate(record)
    levels = ["primary", "secondary", "tertiary"]
    current = levels.index(record["care_level"])
    if decision.direction == "up":
        assert decision.target_level is not None
        assert levels.index(decision.target_level) > current
    elif decision.direction == "down":
        assert decision.target_level is not None
        assert levels.index(decision.target_level) < current
    else:
        assert decision.target_level is None


@given(record=records())
def test_assembled_json_is_pydantic_json(record: dict[str, Any], durable: Engine) -> None:
    """The resolver's fast JSON is byte-identical to pydantic's serialisation."""
    decision = durable.evaluate({**record, "accepts_transfer": record.get("accepts_transfer")})
    assert decision.to_json() == decision.model_dump_json()
