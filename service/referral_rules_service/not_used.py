"""FHIR data the mapping left out, said in words for the card and as data for integrators.

Dropped data must never look like "no advice": every ignored reading is listed with its reason
(the resource's own id is not shown to the clinician; integrators get its JSON path).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import Any, Literal

from referral_rules.vocabulary import Vocabulary

from .fhir_map import Ignored

__all__ = ["EXTENSION", "as_json", "describe"]

Lang = Literal["zh", "en"]

#: the card extension holding the list (CDS Hooks 2.0 reserves ``extension`` for this use)
EXTENSION = "org.referral-rules.fhir-not-used"
#: lines shown on a card; the rest are counted
SHOWN = 20

_REASONS: dict[str, tuple[str, str]] = {
    "unknown-code": ("代码无法识别", "code not recognised"),
    "not-mapped": ("规则不使用此项", "recognised, but the rules do not use it"),
    "members-only": ("只有成员引用的组合项（请发送各成员）",
                     "a panel with member references only (send the members)"),
    "entered-in-error": ("录入错误", "entered in error"),
    "cancelled": ("已取消", "cancelled"),
    "refuted": ("诊断已排除", "refuted"),
    "abated": ("已缓解（有 abatement）", "abated"),
    "future-date": ("日期在将来", "dated in the future"),
    "no-date": ("没有日期", "no date"),
    "data-absent": ("无数值（dataAbsentReason）", "no value (dataAbsentReason)"),
    "no-value": ("无数值", "no value"),
    "value-type": ("数值类型不符", "value of an unexpected type"),
    "comparator": ("不是精确值（如 > 60）", "not an exact value (such as > 60)"),
    "unit-not-convertible": ("单位无法换算", "unit not convertible"),
    "no-reference-high": ("没有参考值上限（无法换算为参考上限的倍数）",
                          "no upper reference limit (the multiple of it cannot be worked out)"),
    "value-not-mapped": ("编码值无法映射", "coded value not mapped"),
    "partial-birth-date": ("出生日期不完整", "birth date without a day"),
    "other-patient": ("属于其他患者", "about another patient"),
    "not-a-resource": ("不是 FHIR 资源", "not a FHIR resource"),
    "unsupported-type": ("不读取此类资源", "resource type not read"),
    "bundle-has-more-pages": ("后续分页未发送", "later pages were not sent"),
    "snipped": ("被发送方截断（其余部分已使用）", "cut short by the sender (the rest was used)"),
    "snipped-incomplete": ("被发送方截断", "cut short by the sender"),
    "prefetch-error": ("EHR 报告取数出错", "the EHR reported an error instead of the data"),
    "other-encounter": ("不是本次就诊", "not this encounter"),
    "several-encounters": ("有多个就诊且未指明 encounterId",
                           "several encounters and no encounterId"),
    "visit-type-not-coded": ("就诊类别/类型不能说明就诊类型（初诊、随访或住院）",
                             "class and type do not tell the visit type "
                             "(first visit, follow-up or inpatient)"),
    "encounter-types-disagree": ("就诊类别与类型相互矛盾", "encounter class and type disagree"),
    "not-sent": ("未发送，也未取得", "not sent, and not fetched"),
}
_PATTERNS: list[tuple[re.Pattern[str], tuple[str, str]]] = [
    (re.compile(r"older-than-(\d+)-days"), ("早于 {0} 天", "older than {0} day(s)")),
    (re.compile(r"status-(.+)"), ("状态为 {0}", "status {0}")),
    (re.compile(r"clinical-status-(.+)"), ("临床状态为 {0}", "clinical status {0}")),
    (re.compile(r"verification-(.+)"), ("核实状态为 {0}", "verification status {0}")),
]
_SYSTEMS = {"http://loinc.org": "LOINC", "http://snomed.info/sct": "SNOMED CT",
            "http://hl7.org/fhir/sid/icd-10": "ICD-10",
            "http://hl7.org/fhir/sid/icd-10-cm": "ICD-10-CM",
            "http://terminology.hl7.org/CodeSystem/v3-ActCode": "v3-ActCode"}


def reason_text(reason: str, lang: Lang) -> str:
    """A reason code in words."""
    i = 0 if lang == "zh" else 1
    if reason in _REASONS:
        return _REASONS[reason][i]
    for pattern, texts in _PATTERNS:
        found = pattern.fullmatch(reason)
        if found:
            return texts[i].format(found.group(1))
    return reason


def _what(item: Ignored, vocabulary: Vocabulary | None, lang: Lang) -> str:
    spec = vocabulary.facts.get(item.fact) if vocabulary and item.fact else None
    label = (spec.zh if lang == "zh" else spec.en) if spec else None
    code = None
    if item.code:
        system, _, value = item.code.rpartition("|")
        code = f"{_SYSTEMS.get(system, system)} {value}".strip()
    kind = item.reference.split("/")[0] if "/" in item.reference and not item.reference.startswith(
        ("prefetch.", "resources[", "http")) else ("FHIR 数据" if lang == "zh" else "FHIR data")
    if label and code:
        return f"{label} ({code})"
    return label or (f"{kind} ({code})" if code else kind)


def describe(ignored: Iterable[Ignored], vocabulary: Vocabulary | None, lang: Lang) -> list[str]:
    """One line per kind of dropped data (``label (code): reason × n``), at most ``SHOWN``."""
    counts = Counter((_what(i, vocabulary, lang), reason_text(i.reason, lang)) for i in ignored)
    lines = [f"{what}：{why}" if lang == "zh" else f"{what}: {why}" for (what, why) in counts]
    lines = [line + (f" × {n}" if n > 1 else "") for line, n in zip(lines, counts.values(),
                                                                     strict=True)]
    if len(lines) > SHOWN:
        more = len(lines) - SHOWN
        lines = [*lines[:SHOWN], f"另有 {more} 类" if lang == "zh" else f"and {more} more"]
    return lines


def as_json(ignored: Iterable[Ignored], limit: int = 200) -> dict[str, Any]:
    """The list for integrators: where each item sits in the request, its code and why (the
    first ``limit`` of ``count``)."""
    items = list(ignored)
    return {"count": len(items),
            "items": [{"path": i.path, "code": i.code, "fact": i.fact, "reason": i.reason}
                      for i in items[:limit]]}
