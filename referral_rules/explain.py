"""Explain: a Decision as plain text for a clinician, in Chinese or English. Rendering only."""

from __future__ import annotations

from typing import Literal

from .decision import Decision, FactValue

__all__ = ["explain"]

Lang = Literal["zh", "en"]

_WORDS: dict[str, dict[str, str]] = {
    "zh": {
        "up": "上转", "down": "下转", "stay": "暂不转诊，在当前机构继续诊治",
        "emergency": "紧急", "urgent": "尽快（当日）", "routine": "常规",
        "primary": "基层医疗机构", "secondary": "二级医院", "tertiary": "三级医院",
        "title": "转诊建议", "direction": "建议", "urgency": "紧急程度", "unset": "未规定",
        "from": "当前", "to": "转往", "destination": "去向", "why": "依据（已满足的标准）",
        "records": "需随转诊提供的资料", "later": "可在转诊后补办", "refusal": "拒绝转诊",
        "refusal_if": "如患者或家属不接受转诊，须在转诊单上写明拒绝理由并由患者本人或家属签字；"
                      "需记录：",
        "refusal_now": "患者或家属已拒绝转诊：现在须在转诊单上写明拒绝理由并签字，转诊不进行；"
                       "需记录：",
        "missing": "信息不完整，以下缺失的信息可能改变建议", "needed_by": "涉及标准",
        "declined": "患者或家属已拒绝，转诊不进行", "keep": "保存在病历中",
        "advice": "提示", "notes": "说明", "versions": "规则版本", "sep": "；", "colon": "：",
        "stop": "。",
    },
    "en": {
        "up": "transfer up", "down": "transfer down", "stay": "no transfer: continue care here",
        "emergency": "emergency", "urgent": "urgent (same day)", "routine": "routine",
        "primary": "primary care", "secondary": "secondary hospital",
        "tertiary": "tertiary hospital",
        "title": "Referral advice", "direction": "Advice", "urgency": "Urgency",
        "unset": "not set by the sources", "from": "now at", "to": "to",
        "destination": "Destination", "why": "Why (criteria met)",
        "records": "Records to send with the patient", "later": "may be completed afterwards",
        "refusal": "Refusal",
        "refusal_if": "If the patient or family declines, the reason must be written on the "
                      "referral form and signed by the patient or a family member; record:",
        "refusal_now": "The patient or family has declined: write the reason on the referral "
                       "form and have it signed now; the transfer does not proceed. Record:",
        "missing": "Incomplete: these missing facts could change the advice",
        "declined": "declined by the patient or family: the transfer does not proceed",
        "keep": "kept in the chart",
        "needed_by": "needed by", "advice": "Guidance", "notes": "Notes",
        "versions": "Rules used", "sep": "; ", "colon": ": ", "stop": ". ",
    },
}


def _value(value: FactValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def explain(decision: Decision, lang: Lang = "en") -> str:
    """Render ``decision`` for a clinician in ``lang`` (``zh`` or ``en``)."""
    if lang not in _WORDS:
        msg = f"lang must be 'zh' or 'en' (got {lang!r})"
        raise ValueError(msg)
    w = _WORDS[lang]
    lines = [f"{w['title']}"]
    head = w[decision.direction]
    if decision.direction in ("up", "down") and decision.target_level:
        head += f" ({w['from']} {w[decision.current_level]} → {w['to']} "
        head += f"{w[decision.target_level]})"
    if decision.refusal.status == "required_now":
        head += f" — {w['declined']}"
    lines.append(f"{w['direction']}{w['colon']}{head}")
    if decision.direction == "up":
        urgency = w[decision.urgency] if decision.urgency else w["unset"]
        lines.append(f"{w['urgency']}{w['colon']}{urgency}")
    if decision.destination is not None:
        lines.append(f"{w['destination']}{w['colon']}{getattr(decision.destination.text, lang)}")
    if decision.fired:
        lines.append(f"{w['why']}{w['colon']}")
        for rule in decision.fired:
            title = getattr(rule.title, lang)
            values = ", ".join(f"{k}={_value(v)}" for k, v in rule.matched.items())
            cites = w["sep"].join(f"{c.title} {c.clause}" for c in rule.citations)
            lines.append(f"  - [{rule.id}] {title}" + (f" ({values})" if values else ""))
            lines.append(f"    {cites}")
    refusal_record = decision.refusal.record
    to_send = [r for r in decision.records if r.id != refusal_record]
    if to_send:
        lines.append(f"{w['records']}{w['colon']}")
        for rec in to_send:
            later = f" ({w['later']})" if rec.deferrable else ""
            lines.append(f"  - {getattr(rec.title, lang)}{later}")
    refusal = decision.refusal
    if refusal.status != "not_applicable":
        key = "refusal_now" if refusal.status == "required_now" else "refusal_if"
        labels = w["sep"].join(getattr(refusal.capture_labels[c], lang) for c in refusal.captures)
        kept = getattr(refusal.kept_in, lang) if refusal.kept_in else ""
        space = " " if lang == "en" else ""
        lines.append(f"{w['refusal']}{w['colon']}{w[key]}{space}{labels}{w['stop']}{kept}".rstrip())
    if decision.advice:
        lines.append(f"{w['advice']}{w['colon']}")
        lines.extend(f"  - {getattr(a, lang)}" for a in decision.advice)
    if decision.missing_facts:
        lines.append(f"{w['missing']}{w['colon']}")
        for m in decision.missing_facts:
            label = getattr(m.label, lang)
            lines.append(f"  - {label} [{m.fact}] ({w['needed_by']} {', '.join(m.needed_by)})")
    notes = [getattr(r.text, lang) for r in decision.reasons]
    if notes:
        lines.append(f"{w['notes']}{w['colon']}")
        lines.extend(f"  - {n}" for n in notes)
    versions = ", ".join(f"{r.id} {r.version}" for r in decision.rulesets)
    lines.append(f"{w['versions']}{w['colon']}{versions}")
    lines.append(getattr(decision.disclaimer, lang))
    return "\n".join(line.rstrip() for line in lines) + "\n"
