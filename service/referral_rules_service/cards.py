"""CDS Hooks 2.0 cards from a decision: summary, indicator, source, detail, suggestion.

No card when nothing is advised (direction ``stay``) and all the FHIR data were used; when some
were left out, an ``info`` card says which and why, so dropped data never looks like "no
advice". The card's uuid is the decision's audit id, so feedback on the card finds the decision.
"""

from __future__ import annotations

from typing import Any, Literal

from referral_rules import Decision

__all__ = ["OVERRIDE_REASONS", "OVERRIDE_SYSTEM", "REFUSED", "cards", "info_card"]

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
_LEVEL = {"zh": {"primary": "基层医疗卫生机构", "secondary": "二级医院", "tertiary": "三级医院"},
          "en": {"primary": "primary care", "secondary": "a secondary hospital",
                 "tertiary": "a tertiary hospital"}}
_URGENCY = {"zh": {"emergency": "紧急", "urgent": "尽快", "routine": "常规"},
            "en": {"emergency": "Emergency", "urgent": "Urgent", "routine": "Routine"}}


def _headline(d: Decision, lang: Lang) -> str:
    level = _LEVEL[lang].get(d.target_level or "", "")
    urgency = _URGENCY[lang].get(d.urgency or "routine", "")
    declined = d.refusal.status == "required_now"
    if lang == "zh":
        verb = "上转" if d.direction == "up" else "下转"
        text = f"{urgency}{verb}至{level}" if level else f"{urgency}{verb}"
        return ("患者拒绝：" if declined else "建议") + text
    verb = "transfer up" if d.direction == "up" else "transfer down"
    text = f"{urgency} {verb}" + (f" to {level}" if level else "")
    return text + (" advised; patient declines" if declined else " advised")


def summary(d: Decision, lang: Lang) -> str:
    """One line under 140 characters: what is advised and the first criterion."""
    head = _headline(d, lang)
    first = d.fired[0].title.zh if lang == "zh" else d.fired[0].title.en
    sep = "：" if lang == "zh" else ": "
    text = head + sep + first
    if len(text) > 139:
        text = text[:138].rstrip() + "…"
    return text


def detail(d: Decision, lang: Lang, not_used: list[str] | None = None) -> str:
    """Markdown: the criteria that fired with their sources, records to send, refusal."""
    zh = lang == "zh"
    out = [f"**{_headline(d, lang)}**", ""]
    out.append("**触发的标准**" if zh else "**Criteria met**")
    for rule in d.fired:
        title = rule.title.zh if zh else rule.title.en
        cites = "; ".join(f"{c.title} {c.clause}" for c in rule.citations)
        out.append(f"- {title} (`{rule.id}`) — {cites}")
    if d.records:
        out += ["", "**需随转诊提供的资料**" if zh else "**Records to send**"]
        for rec in d.records:
            later = ("（急诊可事后补交）" if zh else " (may follow later in an emergency)") \
                if rec.deferrable else ""
            out.append(f"- {rec.title.zh if zh else rec.title.en}{later}")
    if d.refusal.status != "not_applicable":
        out += ["", "**拒绝转诊**" if zh else "**If the patient declines**"]
        labels = [(v.zh if zh else v.en) for v in d.refusal.capture_labels.values()]
        if zh:
            out.append(("患者已拒绝：" if d.refusal.status == "required_now" else
                        "如患者或家属拒绝转诊，") + "须签署拒绝转诊书并存入病历，内容："
                       + "、".join(labels))
        else:
            out.append(("The patient declines: " if d.refusal.status == "required_now" else
                        "If the patient or family declines, ") + "a signed refusal kept in the "
                       "chart is required, capturing: " + ", ".join(labels))
    if d.missing_facts:
        out += ["", "**缺少的资料（可能改变建议）**" if zh else
                "**Missing facts that could change this advice**"]
        labels = [m.label.zh if zh else m.label.en for m in d.missing_facts]
        more = len(labels) - 12
        text = ("、" if zh else ", ").join(labels[:12])
        if more > 0:
            text += f"（另有 {more} 项）" if zh else f" (and {more} more)"
        out.append(text)
    out += _not_used(not_used, lang)
    out += ["", f"_{d.disclaimer.zh if zh else d.disclaimer.en}_"]
    return "\n".join(out)


def _missing(d: Decision, lang: Lang) -> list[str]:
    """The first missing facts, in the library's order (it ranks them), as in ``detail``."""
    if not d.missing_facts:
        return []
    zh = lang == "zh"
    labels = [m.label.zh if zh else m.label.en for m in d.missing_facts]
    more = len(labels) - 12
    text = ("、" if zh else ", ").join(labels[:12])
    if more > 0:
        text += f"（另有 {more} 项）" if zh else f" (and {more} more)"
    return ["", "**缺少的资料（可能改变建议）**" if zh else
            "**Missing facts that could change this advice**", text]


def _not_used(lines: list[str] | None, lang: Lang) -> list[str]:
    if not lines:
        return []
    head = "**未采用的 FHIR 数据**" if lang == "zh" else "**FHIR data not used**"
    return ["", head, *(f"- {line}" for line in lines)]


def info_card(d: Decision, decision_id: str, lang: Lang,
              not_used: list[str]) -> dict[str, Any]:
    """Nothing advised, but some FHIR data were left out: say so, and what and why."""
    zh = lang == "zh"
    summary = ("根据已采用的数据未建议转诊；部分 FHIR 数据未被采用，请查看详情" if zh else
               "No transfer advised from the data used; some FHIR data were not used (see "
               "details)")
    out = ["**根据已采用的数据，未建议转诊**" if zh else
           "**No transfer advised from the data that could be used**"]
    out += _missing(d, lang) + _not_used(not_used, lang)
    out += ["", f"_{d.disclaimer.zh if zh else d.disclaimer.en}_"]
    return {"uuid": decision_id, "summary": summary, "indicator": "info",
            "detail": "\n".join(out), "source": {"label": "referral-rules"}}


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


def cards(d: Decision, decision_id: str, patient_id: str | None, lang: Lang,
          not_used: list[str] | None = None,
          extension: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The cards for one decision: one card; none when nothing is advised and every FHIR
    datum was used. ``not_used``: lines saying what was left out and why; ``extension``: the
    card's ``extension`` (the same as data)."""
    if d.direction == "stay":
        if not not_used:
            return []
        info = info_card(d, decision_id, lang, not_used)
        if extension:
            info["extension"] = extension
        return [info]
    first = d.fired[0].citations[0] if d.fired and d.fired[0].citations else None
    source: dict[str, Any] = {"label": f"{first.title} {first.clause}" if first else
                              "referral-rules"}
    if first is not None and first.url:
        source["url"] = first.url
    card: dict[str, Any] = {
        "uuid": decision_id,
        "summary": summary(d, lang),
        "indicator": _INDICATOR.get(d.urgency or "", "info"),
        "detail": detail(d, lang, not_used),
        "source": source,
        "selectionBehavior": "at-most-one",
        "overrideReasons": OVERRIDE_REASONS,
    }
    if extension:
        card["extension"] = extension
    if d.refusal.status != "required_now":
        card["suggestions"] = [{
            "label": "创建转诊申请" if lang == "zh" else "Create the referral request",
            "uuid": f"{decision_id}-referral",
            "isRecommended": True,
            "actions": [{"type": "create",
                         "description": "转诊申请（草稿，待医师签署）" if lang == "zh" else
                         "Referral request (draft, for the clinician to sign)",
                         "resource": service_request(d, patient_id, lang)}],
        }]
    else:
        card.pop("selectionBehavior")
    return [card]
