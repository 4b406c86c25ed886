"""One decision for the service: evaluate with the library, count it, audit it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from referral_rules import Decision, FactsError

from .deps import Services
from .store import decisions, now, patient_ref

__all__ = ["Made", "audit_only", "decide", "fact_problems"]


class Made:
    """A decision with its audit id and the JSON the library made of it."""

    __slots__ = ("decision", "decision_id", "versions")

    def __init__(self, decision: Decision, decision_id: str,
                 versions: list[dict[str, str]]) -> None:
        self.decision = decision
        self.decision_id = decision_id
        self.versions = versions

    def json(self, explanation: str | None = None) -> str:
        """The library's JSON with ``decision_id`` (and ``explanation``) added at the front."""
        head = '{"decision_id":' + json.dumps(self.decision_id)
        if explanation is not None:
            head += ',"explanation":' + json.dumps(explanation, ensure_ascii=False)
        return head + "," + self.decision.to_json()[1:]


def fact_problems(exc: FactsError, prefix: str) -> list[dict[str, Any]]:
    """The library's fact issues with where each one sits in the request."""
    return [{"path": f"{prefix}.{i.fact}" if i.fact else prefix, **i.to_dict()}
            for i in exc.issues]


def decide(services: Services, facts: Mapping[str, Any], conditions: Sequence[str] | None,
           source: str, patient_id: str | None = None) -> Made:
    """Evaluate and audit. Raises FactsError / UnknownConditionError before anything is stored;
    raises StoreError if the audit could not be written (then nothing is answered)."""
    with services.rules.lease() as current:
        decision = current.engine.evaluate(facts, conditions)
        versions = current.versions
    made = Made(decision, str(uuid.uuid4()), versions)
    audit_only(services, made, source, patient_id)
    services.metrics.decisions.labels(decision.direction, decision.urgency or "none",
                                      source.split(":")[0]).inc()
    return made


def audit_only(services: Services, made: Made, source: str, patient_id: str | None) -> None:
    d = made.decision
    services.store.write(decisions, {
        "id": made.decision_id,
        "created_at": now(),
        "source": source,
        "patient_ref": patient_ref(services.settings.patient_hash_key, patient_id),
        "direction": d.direction,
        "urgency": d.urgency,
        "current_level": d.current_level,
        "target_level": d.target_level,
        "complete": d.complete,
        "fired": list(d.fired_ids),
        "rulesets": [r.model_dump() for r in d.rulesets],
    })
