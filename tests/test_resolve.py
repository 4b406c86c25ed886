"""Decision semantics (design.md "Decision semantics"), on a small fixture independent of
clinical content: combination order, relative direction, records, refusal, bypass, missing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from referral_rules import Decision, Engine, load_rulesets

MINI = Path(__file__).parent / "fixtures" / "mini"


@pytest.fixture(scope="module", params=["durable", "python"])
def mini(request: pytest.FixtureRequest) -> Engine:
    return Engine(load_rulesets(MINI), request.param)


def ev(engine: Engine, **facts: Any) -> Decision:
    facts.setdefault("care_level", "primary")
    return engine.evaluate(facts)


def full(**facts: Any) -> dict[str, Any]:
    """A record with every flag known (false unless given), so nothing is undetermined."""
    base: dict[str, Any] = {f: False for f in ("e", "u", "s", "d", "d2", "t3")}
    base.update(x=10, care_level="secondary", arrived_by_ambulance_120=False,
                mass_casualty_event=False)
    base.update(facts)
    return base


def test_emergency_beats_everything(mini: Engine) -> None:
    d = mini.evaluate(full(e=True, u=True, s=True, d=True))
    assert (d.direction, d.urgency) == ("up", "emergency")
    assert d.complete


def test_up_beats_stay_and_down(mini: Engine) -> None:
    d = mini.evaluate(full(u=True, s=True, d=True))
    assert (d.direction, d.urgency, d.target_level) == ("up", "routine", "tertiary")
    assert "up_overrides_down" in [r.code for r in d.reasons]


def test_stay_beats_down_across_conditions(mini: Engine) -> None:
    """A stable patient in one condition who must stay for another is not sent down."""
    d = mini.evaluate(full(s=True, d=True))
    assert d.direction == "stay"
    assert [r.code for r in d.reasons] == ["stay_criterion", "stay_blocks_down"]
    assert d.records == ()
    assert d.refusal.status == "not_applicable"


def test_down_alone(mini: Engine) -> None:
    d = mini.evaluate(full(d=True, care_level="tertiary"))
    assert (d.direction, d.target_level) == ("down", "primary")
    assert d.record_ids == ("referral_form", "discharge_summary", "treatment_plan",
                            "recent_bp_readings")
    by = {r.id: r.required_by for r in d.records}
    assert by["recent_bp_readings"] == ("A-D",)
    assert by["referral_form"] == ("policy:direction_records.down",)
    assert [a.en for a in d.advice] == ["Follow up"]


def test_down_target_is_the_most_conservative(mini: Engine) -> None:
    d = mini.evaluate(full(d=True, d2=True, care_level="tertiary"))
    assert (d.direction, d.target_level) == ("down", "secondary")
    d = mini.evaluate(full(d2=True, care_level="secondary"))
    assert (d.direction, d.target_level) == ("down", "primary")


def test_nothing_fires_is_stay_no_criterion(mini: Engine) -> None:
    d = mini.evaluate(full())
    assert (d.direction, d.urgency, d.target_level) == ("stay", None, None)
    assert [r.code for r in d.reasons] == ["no_criterion_met"]
    assert d.complete


def test_direction_is_relative_to_care_level(mini: Engine) -> None:
    assert mini.evaluate(full(u=True, care_level="tertiary")).direction == "stay"
    d = mini.evaluate(full(e=True, care_level="tertiary"))
    assert (d.direction, d.urgency) == ("stay", None)
    assert d.reasons[0].code == "at_highest_level"
    d = mini.evaluate(full(d=True, care_level="primary"))
    assert (d.direction, d.reasons[0].code) == ("stay", "at_primary_level")
    assert mini.evaluate(full(u=True, care_level="primary")).target_level == "secondary"
    assert mini.evaluate(full(u=True, care_level="secondary")).target_level == "tertiary"


def test_target_level_already_reached_is_stay(mini: Engine) -> None:
    """B-U needs secondary care: a patient at secondary is not sent further up by it."""
    at_secondary = mini.evaluate(full(u=True, x=95, care_level="secondary"))
    assert [r.id for r in at_secondary.fired] == ["A-U", "B-U"]
    assert (at_secondary.direction, at_secondary.urgency) == ("up", "routine")
    d = mini.evaluate(full(u=False, x=95, care_level="secondary"))
    assert [r.id for r in d.fired] == ["A-U"]
    primary = mini.evaluate(full(u=True, x=95, care_level="primary"))
    assert (primary.direction, primary.urgency, primary.target_level) == (
        "up", "urgent", "secondary")
    t3 = mini.evaluate(full(t3=True, care_level="primary"))
    assert (t3.direction, t3.target_level) == ("up", "tertiary")


def test_refusal_requirement_for_each_direction(mini: Engine) -> None:
    for flags, level in (({"u": True}, "primary"), ({"e": True}, "primary"),
                         ({"d": True}, "secondary")):
        asked = mini.evaluate(full(**flags, care_level=level))
        assert asked.refusal.status == "required_if_declined"
        assert asked.refusal.transfer_proceeds
        assert "signed_refusal" not in asked.record_ids
        declined = mini.evaluate(full(**flags, care_level=level, accepts_transfer="no"))
        assert declined.refusal.status == "required_now"
        assert declined.refusal.transfer_proceeds is False
        assert declined.refusal.captures == ("reason", "signer", "signer_relation", "signed_at")
        assert "signed_refusal" in declined.record_ids
        assert declined.direction == asked.direction  # the advice stands; the transfer does not
    none = mini.evaluate(full(accepts_transfer="no"))
    assert none.refusal.status == "not_applicable"


def test_emergency_and_ambulance_bypass_defer_the_referral_form(mini: Engine) -> None:
    d = mini.evaluate(full(e=True, care_level="primary"))
    assert [r.id for r in d.records if r.deferrable] == ["referral_form"]
    assert d.destination is not None and d.destination.kind == "nearest_capable"
    amb = mini.evaluate(full(u=True, care_level="primary", arrived_by_ambulance_120=True))
    assert amb.urgency == "routine"
    assert [r.id for r in amb.records if r.deferrable] == ["referral_form"]
    routine = mini.evaluate(full(u=True, care_level="primary"))
    assert not any(r.deferrable for r in routine.records)
    assert routine.destination is not None and routine.destination.kind == "same_consortium"


def test_specialty_destination(mini: Engine) -> None:
    d = mini.evaluate(full(u=True, x=95, care_level="primary"))
    assert d.destination is not None
    assert (d.destination.kind, d.destination.specialty) == ("specialty_allowed",
                                                             "cardiovascular")


def test_missing_fact_never_triggers_down(mini: Engine) -> None:
    """A down rule needs every fact; its absence makes the decision incomplete, not down."""
    d = mini.evaluate(full(d=True, x=None, care_level="secondary"))
    assert d.direction == "stay"
    assert not d.complete
    assert [(m.fact, m.needed_by) for m in d.missing_facts] == [("x", ("A-U", "A-D"))]


def test_missing_facts_are_only_those_that_could_change_the_decision(mini: Engine) -> None:
    d = ev(mini, e=True, care_level="secondary")
    assert d.complete and d.missing_facts == ()
    d = ev(mini, e=True)  # A-T3 unknown could still raise the target to tertiary
    assert [m.fact for m in d.missing_facts] == ["t3"]
    d = ev(mini, u=True, care_level="secondary")
    assert not d.complete
    assert {m.fact for m in d.missing_facts} == {"e", "t3"}  # x only feeds rules that cannot win


def test_up_criterion_met_despite_missing_facts(mini: Engine) -> None:
    """A missing fact never blocks an up-criterion that is met."""
    d = ev(mini, u=True)
    assert d.direction == "up"


def test_conditions_select_rulesets(mini: Engine) -> None:
    d = mini.evaluate(full(s=True, d=True), conditions=["alpha"])
    assert d.direction == "down"
    assert [r.id for r in d.rulesets] == ["facts", "policy", "alpha"]
    from referral_rules import UnknownConditionError

    with pytest.raises(UnknownConditionError, match="did you mean 'alpha'"):
        mini.evaluate(full(), conditions=["alpa"])


def test_decision_json_is_byte_identical_and_carries_versions(mini: Engine) -> None:
    a = mini.evaluate(full(u=True, d=True, x=60)).to_json()
    b = mini.evaluate(dict(reversed(list(full(u=True, d=True, x=60).items())))).to_json()
    assert a == b
    decision = Decision.model_validate_json(a)
    assert decision.model_dump_json() == a
    assert [(r.id, r.version) for r in decision.rulesets] == [
        ("facts", "test-1"), ("policy", "1.0.0"), ("alpha", "1"), ("beta", "2")]
    assert all(len(r.sha256) == 64 for r in decision.rulesets)
    assert "not an order" in decision.disclaimer.en


def test_down_goes_ahead_with_a_checklist_while_a_blocking_fact_is_unrecorded(
        mini: Engine) -> None:
    """Down-criteria met, the stay flag of another condition unrecorded: down, with that fact
    on the confirm-before-transfer checklist (criteria.md §0, convention 2, revised)."""
    facts = full(d=True, care_level="secondary")
    del facts["s"]
    d = mini.evaluate(facts)
    assert [r.id for r in d.fired] == ["A-D"]
    assert (d.direction, d.target_level) == ("down", "primary")
    assert [r.code for r in d.reasons] == ["down_checks_outstanding", "incomplete"]
    assert [(m.fact, m.effect, m.needed_by) for m in d.confirm_before_transfer] == [
        ("s", "stay", ("B-S",))]
    assert d.missing_facts == d.confirm_before_transfer and not d.complete
    assert d.destination is not None and d.destination.kind == "consortium_partner"
    assert d.refusal.status == "required_if_declined"
    # recorded, the blocking fact holds the patient
    held = mini.evaluate({**facts, "s": True})
    assert held.direction == "stay" and held.confirm_before_transfer == ()
    assert mini.evaluate(full(d=True, care_level="secondary")).confirm_before_transfer == ()


def test_checklist_ranks_emergency_before_up_before_stay(mini: Engine) -> None:
    facts = full(d=True, care_level="secondary")
    for name in ("e", "u", "s"):
        del facts[name]
    d = mini.evaluate(facts)
    assert d.direction == "down"
    assert [(m.fact, m.effect) for m in d.confirm_before_transfer] == [
        ("e", "emergency"), ("u", "up"), ("s", "stay")]
    assert [p.rule for p in d.possible_emergencies] == ["A-E"]
    assert [c.fact for c in d.possible_emergencies[0].check] == ["e"]
    assert "possible_emergency" in [r.code for r in d.reasons]


def test_declined_emergency_defers_nothing(mini: Engine) -> None:
    """The signed refusal is written on the referral form now: no 补办 for a transfer that
    does not happen."""
    d = mini.evaluate(full(e=True, care_level="primary", accepts_transfer="no"))
    assert (d.direction, d.urgency) == ("up", "emergency")
    assert not any(r.deferrable for r in d.records)
    assert "emergency_bypass" not in [r.code for r in d.reasons]
