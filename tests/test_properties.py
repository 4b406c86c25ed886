"""Clinical invariants on generated patients (Hypothesis)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from referral_rules import Bundle, Decision, Engine
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
    # Within the same scopes (dropping the fact that brings a condition into scope is the scope
    # property's business, below).
    if after.direction == "down" and before.direction != "down" and \
            python_engine.scopes(record) == python_engine.scopes(partial):
        assert not after.complete
        assert after.confirm_before_transfer


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
def test_decision_json_round_trips(record: dict[str, Any], durable: Engine) -> None:
    """The Decision JSON is the model: parsing it back gives the same decision and bytes."""
    decision = durable.evaluate({**record, "accepts_transfer": record.get("accepts_transfer")})
    again = Decision.model_validate_json(decision.to_json())
    assert again == decision and again.to_json() == decision.to_json()


@given(record=records())
def test_scope_every_ruleset_equals_the_rulesets_in_scope(
    record: dict[str, Any], python_engine: Engine
) -> None:
    """Issue 10 / design.md: evaluating every ruleset gives the same direction, urgency and
    target as evaluating only the rulesets whose scope the record satisfies, unless a rule of
    another ruleset is true on the recorded facts (then only an emergency may differ)."""
    scopes = python_engine.scopes(record)
    in_scope = [r for r, s in scopes.items() if s == "applies"]
    others = [r for r in scopes if r not in in_scope]
    everything = python_engine.evaluate(record)
    only = python_engine.evaluate(record, in_scope)
    outside_true = python_engine.match(record, others) if others else []
    if not outside_true:
        assert (everything.direction, everything.urgency, everything.target_level) == (
            only.direction, only.urgency, only.target_level)
        assert everything.fired_ids == only.fired_ids
    else:
        extra = set(everything.fired_ids) - set(only.fired_ids)
        rules = {r.id: r for r in python_engine.bundle.rules}
        assert all(rules[i].emergency and scopes[rules[i].ruleset] == "unknown" for i in extra)


@given(record=records())
def test_possible_emergencies_are_undetermined_in_scope_emergency_rules(
    record: dict[str, Any], python_engine: Engine
) -> None:
    decision = python_engine.evaluate(record)
    scopes = python_engine.scopes(record)
    rules = {r.id: r for r in python_engine.bundle.rules}
    for alert in decision.possible_emergencies:
        rule = rules[alert.rule]
        assert rule.emergency and scopes[rule.ruleset] == "applies"
        assert alert.rule not in decision.fired_ids and alert.check
    if decision.direction == "down":
        assert {m.fact for m in decision.confirm_before_transfer} <= {
            m.fact for m in decision.missing_facts}
