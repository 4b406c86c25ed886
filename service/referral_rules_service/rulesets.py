"""Ruleset listings for the API, built from the loaded bundle."""

from __future__ import annotations

from typing import Any

from referral_rules import Bundle
from referral_rules.ir import RulesetIR

from .models import RulesetDetail, RulesetSummary

__all__ = ["detail", "summary"]


def _summary(rs: RulesetIR) -> dict[str, Any]:
    return {"id": rs.id, "version": rs.version, "sha256": rs.sha256,
            "title": dict(rs.title.model_dump()), "rules": len(rs.rules),
            "file": rs.file.rsplit("/", 1)[-1]}


def summary(bundle: Bundle) -> list[RulesetSummary]:
    return [RulesetSummary(**_summary(rs)) for rs in bundle.rulesets.values()]


def detail(bundle: Bundle, ruleset_id: str) -> RulesetDetail | None:
    rs = bundle.rulesets.get(ruleset_id)
    if rs is None:
        return None
    items: list[dict[str, Any]] = []
    sources: dict[str, dict[str, Any]] = {}
    for rule in rs.rules:
        cites = []
        for c in rule.citations:
            cites.append({"source": c.source, "clause": c.clause, "quote": c.quote})
            src = sources.setdefault(c.source, {"id": c.source, "title": c.title,
                                                "url": c.url, "clauses": []})
            if c.clause not in src["clauses"]:
                src["clauses"].append(c.clause)
        items.append({
            "id": rule.id, "criterion": rule.criterion,
            "title": rule.title.model_dump(), "direction": rule.direction,
            "urgency": rule.urgency, "target_level": rule.target_level,
            "records": list(rule.records), "facts": list(rule.facts),
            "citations": cites, "line": rule.line})
    return RulesetDetail(**_summary(rs), specialty=rs.specialty, items=items,
                         sources=sorted(sources.values(), key=lambda s: str(s["id"])))
