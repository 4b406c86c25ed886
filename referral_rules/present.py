"""Present: one readable model of a Decision, in Chinese or English, for every renderer.

``explain`` renders it as plain text for a clinician; the service's CDS Hooks card renders the
same sections as markdown, and the workbench as HTML. Wording lives here only. Rendering
only: nothing here decides anything.

Order: possible emergencies first (they are never buried), then the advice, why, what to
confirm before a down-transfer, records, refusal, guidance, what is missing, what was derived,
which rulesets did not apply, notes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from .decision import Decision, FactValue, MissingFact
from .model import Text

__all__ = ["Line", "Presentation", "Section", "present"]

Lang = Literal["zh", "en"]

WORDS: dict[str, dict[str, str]] = {
    "zh": {
        "up": "上转", "down": "下转", "stay": "暂不转诊，在当前机构继续诊治",
        "emergency": "紧急", "urgent": "尽快（当日）", "routine": "常规",
        "primary": "基层医疗机构", "secondary": "二级医院", "tertiary": "三级医院",
        "title": "转诊建议", "direction": "建议", "urgency": "紧急程度", "unset": "未规定",
        "from": "当前", "to": "转往", "destination": "去向", "why": "依据（已满足的标准）",
        "possible": "可能的急危重症：以下情况未记录，请立即核实",
        "check": "核实", "or_record": "或记录",
        "confirm": "转出前请确认（未记录，如存在则改变建议）",
        "records": "需随转诊提供的资料", "later": "可在转诊后补办", "refusal": "拒绝转诊",
        "refusal_if": "如患者或家属不接受转诊，须在转诊单上写明拒绝理由并由患者本人或家属签字；"
                      "需记录：",
        "refusal_now": "患者或家属已拒绝转诊：现在须在转诊单上写明拒绝理由并签字，转诊不进行；"
                       "需记录：",
        "missing": "信息不完整，以下缺失的信息可能改变建议", "needed_by": "涉及标准",
        "derived": "由已记录信息推出", "from_facts": "依据", "convention": "本项目约定",
        "derived_mark": "推出",
        "not_assessed": "未评估的病种（记录中缺少判断是否适用的信息）",
        "declined": "患者或家属已拒绝，转诊不进行", "keep": "保存在病历中",
        "advice": "提示", "notes": "说明", "versions": "规则版本", "sep": "；", "colon": "：",
        "stop": "。", "yes": "是", "no": "否", "list": "、",
        "effect_emergency": "可能为急诊", "effect_up": "可能需上转", "effect_urgency":
        "可能改变紧急程度", "effect_stay": "可能需留治", "effect_target": "可能改变转往级别",
    },
    "en": {
        "up": "transfer up", "down": "transfer down", "stay": "no transfer: continue care here",
        "emergency": "emergency", "urgent": "urgent (same day)", "routine": "routine",
        "primary": "primary care", "secondary": "secondary hospital",
        "tertiary": "tertiary hospital",
        "title": "Referral advice", "direction": "Advice", "urgency": "Urgency",
        "unset": "not set by the sources", "from": "now at", "to": "to",
        "destination": "Destination", "why": "Why (criteria met)",
        "possible": "Possible emergency: not recorded, check now",
        "check": "check", "or_record": "or record",
        "confirm": "Confirm before transfer (not recorded; any present changes the advice)",
        "records": "Records to send with the patient", "later": "may be completed afterwards",
        "refusal": "Refusal",
        "refusal_if": "If the patient or family declines, the reason must be written on the "
                      "referral form and signed by the patient or a family member; record:",
        "refusal_now": "The patient or family has declined: write the reason on the referral "
                       "form and have it signed now; the transfer does not proceed. Record:",
        "missing": "Incomplete: these missing facts could change the advice",
        "derived": "Worked out from recorded facts", "from_facts": "from",
        "convention": "our convention", "derived_mark": "derived",
        "not_assessed": "Conditions not assessed (nothing recorded says whether they apply)",
        "declined": "declined by the patient or family: the transfer does not proceed",
        "keep": "kept in the chart",
        "needed_by": "needed by", "advice": "Guidance", "notes": "Notes",
        "versions": "Rules used", "sep": "; ", "colon": ": ", "stop": ". ", "yes": "yes",
        "no": "no", "list": ", ",
        "effect_emergency": "could be an emergency", "effect_up": "could need an up-transfer",
        "effect_urgency": "could change the urgency", "effect_stay": "could hold the patient",
        "effect_target": "could change the level",
    },
}


@dataclass(frozen=True)
class Line:
    """One item: its text, an optional code (rule id or fact name), indented details, and the
    group it belongs to (e.g. what an unrecorded fact could do), for a heading per group."""

    text: str
    code: str | None = None
    details: tuple[str, ...] = ()
    group: str | None = None


@dataclass(frozen=True)
class Section:
    """A titled list of items; ``key`` says what it is (``why``, ``confirm``, ...)."""

    key: str
    title: str
    lines: tuple[Line, ...]


@dataclass(frozen=True)
class Presentation:
    """A decision in one language, ready for any renderer."""

    lang: Lang
    title: str
    headline: str  # "transfer up (now at primary care → to secondary hospital)"
    facts: tuple[tuple[str, str], ...]  # (label, value): urgency, destination
    sections: tuple[Section, ...]
    versions: str
    disclaimer: str


def _t(text: Text | None, lang: Lang) -> str:
    return "" if text is None else text.zh if lang == "zh" else text.en


def value_text(value: FactValue, lang: Lang) -> str:
    """A fact value as a clinician reads it."""
    if isinstance(value, bool):  # next to a fact name, as the fact is written
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _missing_line(m: MissingFact, lang: Lang) -> Line:
    w = WORDS[lang]
    text = f"{_t(m.label, lang)} ({w['needed_by']} {', '.join(m.needed_by)})"
    details = (f"{w['or_record']} {', '.join(m.derivable_from)}",) if m.derivable_from else ()
    return Line(text, m.fact, details, w[f"effect_{m.effect}"])


def present(decision: Decision, lang: Lang = "en") -> Presentation:
    """The presentation of ``decision`` in ``lang``."""
    if lang not in WORDS:
        msg = f"lang must be 'zh' or 'en' (got {lang!r})"
        raise ValueError(msg)
    w = WORDS[lang]
    d = decision
    head = w[d.direction]
    if d.direction in ("up", "down") and d.target_level:
        head += f" ({w['from']} {w[d.current_level]} → {w['to']} {w[d.target_level]})"
    if d.refusal.status == "required_now":
        head += f" — {w['declined']}"
    facts: list[tuple[str, str]] = []
    if d.direction == "up":
        facts.append((w["urgency"], w[d.urgency] if d.urgency else w["unset"]))
    if d.destination is not None:
        facts.append((w["destination"], _t(d.destination.text, lang)))
    sections: list[Section] = []

    def add(key: str, title: str, lines: Sequence[Line]) -> None:
        if lines:
            sections.append(Section(key, title, tuple(lines)))

    add("possible_emergencies", w["possible"], [
        Line(f"{_t(p.title, lang)}{w['colon']}{w['check']} "
             + w["list"].join(_t(c.label, lang) for c in p.check),
             p.rule, tuple(f"{c.title} {c.clause}" for c in p.citations))
        for p in d.possible_emergencies])
    why = []
    for rule in d.fired:
        values = ", ".join(
            f"{k}={value_text(v, lang)}" + (f" ({w['derived_mark']})" if k in rule.derived else "")
            for k, v in rule.matched.items())
        cites = w["sep"].join(f"{c.title} {c.clause}" for c in rule.citations)
        why.append(Line(_t(rule.title, lang) + (f" ({values})" if values else ""), rule.id,
                        (cites,) if cites else ()))
    add("why", w["why"], why)
    add("confirm", w["confirm"], [_missing_line(m, lang) for m in d.confirm_before_transfer])
    refusal_record = d.refusal.record
    add("records", w["records"], [
        Line(_t(r.title, lang) + (f" ({w['later']})" if r.deferrable else ""), r.id)
        for r in d.records if r.id != refusal_record])
    refusal = d.refusal
    if refusal.status != "not_applicable":
        key = "refusal_now" if refusal.status == "required_now" else "refusal_if"
        labels = w["sep"].join(_t(refusal.capture_labels[c], lang) for c in refusal.captures)
        space = " " if lang == "en" else ""
        text = f"{w[key]}{space}{labels}{w['stop']}{_t(refusal.kept_in, lang)}".rstrip()
        add("refusal", w["refusal"], [Line(text)])
    add("advice", w["advice"], [Line(_t(a, lang)) for a in d.advice])
    shown = {m.fact for m in d.confirm_before_transfer}
    add("missing", w["missing"],
        [_missing_line(m, lang) for m in d.missing_facts if m.fact not in shown])
    derived = []
    for item in d.derived_facts:
        inputs = ", ".join(f"{k}={value_text(v, lang)}" for k, v in item.derived_from.items())
        cites = w["sep"].join(f"{c.title} {c.clause}" for c in item.citations)
        details = tuple(x for x in (
            cites, f"{w['convention']}{w['colon']}{_t(item.convention, lang)}"
            if item.convention else "") if x)
        derived.append(Line(
            f"{_t(item.label, lang)} = {value_text(item.value, lang)} "
            f"({w['from_facts']} {inputs})", item.fact, details))
    add("derived", w["derived"], derived)
    add("not_assessed", w["not_assessed"],
        [Line(_t(r.title, lang) or r.id, r.id) for r in d.rulesets if r.scope == "unknown"])
    add("notes", w["notes"], [Line(_t(r.text, lang)) for r in d.reasons])
    versions = ", ".join(f"{r.id} {r.version}" for r in d.rulesets)
    return Presentation(lang, w["title"], head, tuple(facts), tuple(sections), versions,
                        _t(d.disclaimer, lang))
