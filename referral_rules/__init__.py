"""referral-rules: declarative clinical referral rules for tiered care (分级诊疗, 双向转诊).

Load a rules directory, build an engine, evaluate a patient::

    from referral_rules import Engine, load_rulesets
    engine = Engine(load_rulesets())          # the bundled rulesets, or load_rulesets("my/dir")
    decision = engine.evaluate({"care_level": "primary", "sbp": 182, "dbp": 96})
    print(decision.explain("zh"))

Decisions are advice for a clinician, never orders.
"""

from __future__ import annotations

from .decision import Decision
from .errors import (
    EngineError,
    FactIssue,
    FactsError,
    Issue,
    ReferralRulesError,
    RulesetError,
    UnknownConditionError,
)
from .evaluate import Engine
from .ir import Bundle
from .link import bundled_rulesets, load_rulesets

__version__ = "0.1.0"

__all__ = [
    "Bundle",
    "Decision",
    "Engine",
    "EngineError",
    "FactIssue",
    "FactsError",
    "Issue",
    "ReferralRulesError",
    "RulesetError",
    "UnknownConditionError",
    "bundled_rulesets",
    "load_rulesets",
]
