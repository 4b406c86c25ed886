"""The Decision model: the fast constructor is model_construct, and JSON round-trips."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from referral_rules import Decision, Engine
from referral_rules.decision import FiredRule, MissingFact, construct


def _check(cls: type[BaseModel], values: dict[str, Any]) -> None:
    fast = construct(cls, dict(values))
    slow = cls.model_construct(**values)
    assert fast == slow
    assert fast.model_dump_json() == slow.model_dump_json()
    assert fast.model_fields_set == slow.model_fields_set
    assert cls.model_validate_json(fast.model_dump_json()) == fast


def test_construct_equals_model_construct(python_engine: Engine) -> None:
    decision = python_engine.evaluate(
        {"care_level": "primary", "has_hypertension": True, "sbp": 185, "dbp": 100},
        ["hypertension"])
    assert decision.fired and decision.missing_facts
    _check(Decision, {k: getattr(decision, k) for k in Decision.model_fields})
    fired = decision.fired[0]
    _check(FiredRule, {k: getattr(fired, k) for k in FiredRule.model_fields})
    _check(MissingFact, {"fact": "sbp", "label": decision.missing_facts[0].label,
                         "effect": "up", "needed_by": ("HTN-U1-SEVERE-BP",),
                         "derivable_from": ()})


def test_decision_is_frozen_and_round_trips(python_engine: Engine) -> None:
    decision = python_engine.evaluate({"care_level": "secondary", "sbp": 185}, ["hypertension"])
    try:
        decision.direction = "down"
    except Exception as exc:
        assert "frozen" in str(exc)
    else:
        raise AssertionError("Decision must be frozen")
    again = Decision.model_validate_json(decision.to_json())
    assert again == decision
    assert again.to_json() == decision.to_json()
    assert decision.to_json(indent=2) == decision.model_dump_json(indent=2)


def test_shared_parts_cannot_be_changed_by_a_caller(python_engine: Engine) -> None:
    """Issue 12: a caller that mutates a decision's shared mapping gets an error, and the
    next decision is untouched (its JSON still equals model_dump_json)."""
    facts = {"care_level": "primary", "has_hypertension": True, "sbp": 185, "dbp": 100}
    first = python_engine.evaluate(facts, ["hypertension"])
    labels = first.refusal.capture_labels
    with pytest.raises(TypeError, match="shared"):
        labels.clear()
    with pytest.raises(TypeError, match="shared"):
        labels["reason"] = labels["signer"]
    first.fired[0].matched.clear()  # a per-decision dict: the caller's own to change
    second = python_engine.evaluate(facts, ["hypertension"])
    assert set(second.refusal.capture_labels) == {"reason", "signer", "signer_relation",
                                                  "signed_at"}
    assert second.fired[0].matched
    assert second.to_json() == Decision.model_validate_json(second.to_json()).model_dump_json()
