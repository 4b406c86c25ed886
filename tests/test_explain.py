"""Explanations for a clinician, pinned as golden text (set REGENERATE_GOLDEN=1 to rewrite)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from referral_rules import Engine

GOLDEN = Path(__file__).parent / "golden"

PATIENTS: dict[str, tuple[dict[str, Any], list[str] | None]] = {
    "htn-first-visit-severe-bp": (
        {"care_level": "primary", "has_hypertension": True, "visit_type": "first_visit",
         "sbp": 182, "dbp": 96, "age": 58}, ["hypertension"]),
    "stemi-declined": (
        {"care_level": "primary", "chest_pain_complaint": True, "chest_pain_now": True,
         "chest_pain_minutes": 40, "sweating": True, "st_elevation_leads": 3,
         "arrived_by_ambulance_120": True, "accepts_transfer": "no"}, ["chest_pain"]),
    "post-op-down": (
        {"care_level": "tertiary", "post_operative": True, "day_surgery": False,
         "self_care_basic": True, "temperature_normal": True, "infection_signs": False,
         "tolerating_semi_liquid_diet": True, "flatus_and_stool_passed": True,
         "wound_healing_well": True, "wound_infection": False, "wound_dehiscence": False,
         "walking_freely": True,
         "iv_fluids_needed": False,
         "oral_analgesia_effective": True}, ["post_operative"]),
}


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("name", sorted(PATIENTS))
def test_explain_matches_golden_text(name: str, lang: str, python_engine: Engine) -> None:
    facts, conditions = PATIENTS[name]
    text = python_engine.evaluate(facts, conditions).explain(lang)  # type: ignore[arg-type]
    path = GOLDEN / f"{name}.{lang}.txt"
    if os.environ.get("REGENERATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


def test_explain_says_what_a_clinician_needs(python_engine: Engine) -> None:
    facts, conditions = PATIENTS["stemi-declined"]
    decision = python_engine.evaluate(facts, conditions)
    en, zh = decision.explain("en"), decision.explain("zh")
    assert "transfer up" in en and "emergency" in en
    assert "CP-E1-ST-ELEVATION" in en and "st_elevation_leads=3" in en
    assert "may be completed afterwards" in en  # 120 ambulance: referral form later
    assert "has declined" in en and "does not proceed" in en
    assert "not an order" in en
    assert "上转" in zh and "已拒绝转诊" in zh and "不是医嘱" in zh


def test_explain_rejects_unknown_language(python_engine: Engine) -> None:
    decision = python_engine.evaluate({"care_level": "primary"}, ["hypertension"])
    with pytest.raises(ValueError, match="zh"):
        decision.explain("fr")  # type: ignore[arg-type]
