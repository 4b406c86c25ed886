"""CDS Hooks 2.0 cards from a decision: summary, indicator, source, detail, suggestion.

The detail renders the library's presentation model (``referral_rules.present``: the same
sections, wording and order as ``Decision.explain``) as markdown; possible emergencies come first.
One card per decision; none only when nothing is advised, no emergency is left open and every
FHIR datum was used: dropped data or an open emergency never looks like "no advice". The card's
uuid is the decision's audit id, so feedback on the card finds the decision.
"""

from __future__ import annotations

from typing import Any, Literal

from referral_rules import Decision
from referral_rules.present import Presentation, Section, present

__all__ = ["OVERRIDE_REASONS", "OVERRIDE_SYSTEM", "REFUSED", "cards", "detail", "summary"]

Lang = Literal["zh", "en"]

OVERRIDE_SYSTEM = "urn:referral-rules:cds:override-reason"
REFUSED = "patient-refused"
OVERRIDE_REASONS: list[dict[str, Any]] = [
    {"code": REFUSED, "system": OVERRIDE_SYSTEM,
     "display": "Patient/family refused transfer 患者或家属拒绝转诊"},
    {"code": "clinical-judgement", "system": OVERRIDE_SYSTEM,
     "display": "Clinician's judgement differs 医师判断不同"},
    {"code": "already-arranged", "system": OVERRIDE_SYSTEM,
     "display": "Transfer already arranged 已安排转诊"},
]

_INDICATOR = {"emergency": "critical", "urgent": "warning"}
_PRIORITY = {"emergency": "stat", "urgent": "urgent"}
_SUMMARY_MAX = 139  # CDS Hooks: "<140 characters"
_MANY = 12  # items of a long list shown before "and N more"
_LEVEL = {"zh": {"primary": "基层医疗卫生机构", "secondary": "二级医院", "tertiary": "三级医院"},
          "en": {"primary": "primary care", "secondary": "a secondary hospital",
                 "tertiary": "a tertiary hospital"}}
_URGENCY = {"zh": {"emergency": "紧急", "urgent": "尽快", "routine": "常规"},
            "en": {"emergency": "Emergency", "urgent": "Urgent", "routine": "Routine"}}
_WORDS = {
    "zh": {"declined": "患者拒绝：", "advise": "建议", "to": "至", "sep": "：", "list": "、",
           "possible": "可能的急危重症，请核实", "checks": "（转出前确认 {n} 项）",
           "more": "（另有 {n} 项）", "no_transfer": "根据已采用的数据未建议转诊",
           "not_used": "部分 FHIR 数据未被采用，请查看详情", "fhir": "未采用的 FHIR 数据"},
    "en": {"declined": "", "advise": "", "to": " to ", "sep": ": ", "list": ", ",
           "possible": "Possible emergency, check", "checks": " ({n} checks before transfer)",
           "more": " (and {n} more)", "no_transfer": "No transfer advised from the data used",
           "not_used": "some FHIR data were not used (see details)",
           "fhir": "FHIR data not used"},
}


def _headline(d: Decision, lang: Lang) -> str:
    level = _LEVEL[lang].get(d.target_level or "", "")
    # urgency belongs to up-transfers; a down-transfer has none
    urgency = _URGENCY[lang].get(d.urgency or "routine", "") if d.direction == "up" else ""
    declined = d.refusal.status == "required_now"
    if lang == "zh":
        verb = "上转" if d.direction == "up" else "下转"
        text = f"{urgency}{verb}至{level}" if level else f"{urgency}{verb}"
        return ("患者拒绝：" if declined else "建议") + text
    verb = "transfer up" if d.direction == "up" else "transfer down"
    text = (f"{urgency} {verb}" if urgency else verb) + (f" to {level}" if level else "")
    text = text[0].upper() + text[1:]
    return text + (" advised; patient declines" if declined else " advised")


def _cut(text: str) -> str:
    return text if len(text) <= _SUMMARY_MAX else text[:_SUMMARY_MAX - 1].rstrip() + "…"


def summary(d: Decision, lang: Lang, dropped: bool = False) -> str:
    """One line under 140 characters: what is advised and why, or the emergency to rule out."""
    w = _WORDS[lang]
    if d.direction == "stay":
        tail = (("；" if lang == "zh" else "; ") + w["not_used"]) if dropped else ""
        if d.possible_emergencies:  # the dropped-data note must survive the cut
            first = d.possible_emergencies[0]
            title = first.title.zh if lang == "zh" else first.title.en
            return _cut(f"{w['possible']}{w['sep']}{title}"[:_SUMMARY_MAX - len(tail)] + tail)
        return _cut(w["no_transfer"] + tail)
    first_rule = d.fired[0].title.zh if lang == "zh" else d.fired[0].title.en
    checks = w["checks"].format(n=len(d.confirm_before_transfer)) \
        if d.confirm_before_transfer else ""
    return _cut(_headline(d, lang) + checks + w["sep"] + first_rule)


def _section(s: Section, lang: Lang) -> list[str]:
    w = _WORDS[lang]
    out = ["", f"**{s.title}**"]
    if s.key == "refusal":
        return [*out, s.lines[0].text]
    shown = s.lines[:_MANY] if s.key in ("missing", "confirm") else s.lines
    group = None
    for line in shown:
        if line.group is not None and line.group != group:
            out.append(f"- _{line.group}_")
            group = line.group
        indent = "  " if line.group is not None else ""
        code = f" (`{line.code}`)" if line.code and s.key not in ("records", "advice", "notes",
                                                                   "not_assessed") else ""
        details = f" — {'; '.join(line.details)}" if line.details else ""
        out.append(f"{indent}- {line.text}{code}{details}")
    if len(s.lines) > len(shown):
        out.append(w["more"].format(n=len(s.lines) - len(shown)).strip())
    return out


def detail(d: Decision, lang: Lang, not_used: list[str] | None = None,
           p: Presentation | None = None) -> str:
    """Markdown of the presentation: possible emergencies first, then the advice and why."""
    p = p or present(d, lang)
    out: list[str] = []
    for s in p.sections:
        if s.key == "possible_emergencies":  # first, before the advice itself
            block = _section(s, lang)
            out += [f"⚠️ {block[1]}", *block[2:], ""]
    if d.direction != "stay":
        out.append(f"**{_headline(d, lang)}**")
    else:
        out.append(f"**{p.headline}**")
    out += [f"{label}{_WORDS[lang]['sep']}{value}" for label, value in p.facts]
    for s in p.sections:
        if s.key not in ("possible_emergencies", "notes"):
            out += _section(s, lang)
    if not_used:
        out += ["", f"**{_WORDS[lang]['fhir']}**", *(f"- {line}" for line in not_used)]
    out += ["", f"_{p.disclaimer}_"]
    return "\n".join(out).strip("\n")


def service_request(d: Decision, patient_id: str | None, lang: Lang) -> dict[str, Any]:
    """A draft FHIR R4 ServiceRequest for the referral, for the clinician to sign."""
    zh = lang == "zh"
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "proposal",
        "priority": _PRIORITY.get(d.urgency or "", "routine"),
        "category": [{"coding": [{"system": "http://snomed.info/sct", "code": "3457005",
                                  "display": "Patient referral"}]}],
        "code": {"text": _headline(d, lang)},
        "reasonCode": [{"text": r.title.zh if zh else r.title.en} for r in d.fired],
        "note": [{"text": a.zh if zh else a.en} for a in d.advice],
    }
    if patient_id:
        resource["subject"] = {"reference": f"Patient/{patient_id}"}
    if d.target_level:
        resource["performerType"] = {"text": _LEVEL[lang][d.target_level]}
    return resource


def _indicator(d: Decision) -> str:
    indicator = _INDICATOR.get(d.urgency or "", "info") if d.direction == "up" else "info"
    if d.possible_emergencies and indicator == "info":
        return "warning"  # an emergency that cannot be ruled out is never just information
    return indicator


def cards(d: Decision, decision_id: str, patient_id: str | None, lang: Lang,
          not_used: list[str] | None = None,
          extension: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The cards for one decision: one card; none only when nothing is advised, no emergency is
    left open and every FHIR datum was used. ``not_used``: lines saying what was left out and
    why; ``extension``: the card's ``extension`` (the same as data)."""
    if d.direction == "stay" and not d.possible_emergencies and not not_used:
        return []
    p = present(d, lang)
    first = (d.fired[0].citations[0] if d.fired and d.fired[0].citations else
             d.possible_emergencies[0].citations[0]
             if d.possible_emergencies and d.possible_emergencies[0].citations else None)
    source: dict[str, Any] = {"label": f"{first.title} {first.clause}" if first else
                              "referral-rules"}
    if first is not None and first.url:
        source["url"] = first.url
    card: dict[str, Any] = {
        "uuid": decision_id,
        "summary": summary(d, lang, bool(not_used)),
        "indicator": _indicator(d),
        "detail": detail(d, lang, not_used, p),
        "source": source,
        "overrideReasons": OVERRIDE_REASONS,
    }
    if extension:
        card["extension"] = extension
    if d.direction != "stay" and d.refusal.status != "required_now":
        card["selectionBehavior"] = "at-most-one"
        card["suggestions"] = [{
            "label": "创建转诊申请" if lang == "zh" else "Create the referral request",
            "uuid": f"{decision_id}-referral",
            "isRecommended": True,
            "actions": [{"type": "create",
                         "description": "转诊申请（草稿，待医师签署）" if lang == "zh" else
                         "Referral request (draft, for the clinician to sign)",
                         "resource": service_request(d, patient_id, lang)}],
        }]
    return [card]
