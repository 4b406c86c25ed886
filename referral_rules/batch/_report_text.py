"""Bilingual labels of the indicators report, and the targets of the policy document.

The targets are quoted from the Linkou County plan of 2017 (林政办规〔2017〕11号, the project's
policy source "seed 002"), whose clauses policy.yaml numbers the same way: 二（四）1 =
二、主要任务 → （四）完善机制体制 → 1.细化双向转诊标准. The report cites the document by its title,
never by the name of a file in this project.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ADVICE", "DIRECTIONS", "FORMAT", "ISSUE_CODES", "LEVELS", "MET", "PLAN",
           "SETTINGS", "TARGETS", "URGENCIES", "label"]

FORMAT = "referral-rules-report/2"  # 2: met / advised down / checks outstanding / stay
Label = dict[str, str]


def _t(zh: str, en: str) -> Label:
    return {"zh": zh, "en": en}


def label(table: dict[str, Label], key: str) -> Label:
    """The zh/en label of ``key`` (the key itself when the table has none)."""
    return table.get(key, _t(key, key))


DIRECTIONS: dict[str, Label] = {
    "up": _t("上转", "Up"),
    "down": _t("下转", "Down"),
    "stay": _t("留治", "Stay"),
    "failed": _t("校验未通过", "Failed validation"),
    "unknown": _t("未知", "Unknown"),
}
MET = _t("符合下转标准", "Meet a down-transfer criterion")
ADVICE: dict[str, Label] = {  # what the rules advise for an inpatient who meets one
    "advised_down": _t("建议下转", "Advised down"),
    "checks_outstanding": _t("建议下转，待核对", "Advised down, checks outstanding"),
    "stay": _t("留治（有记录的情况阻止下转，或符合上转标准）",
               "Stay (held by a recorded blocker or an up criterion)"),
}
URGENCIES: dict[str, Label] = {
    "emergency": _t("紧急", "Emergency"),
    "urgent": _t("尽快（当日）", "Urgent (same day)"),
    "routine": _t("常规", "Routine"),
    "none": _t("未设定", "Not set"),
}
LEVELS: dict[str, Label] = {
    "primary": _t("基层", "Primary"),
    "secondary": _t("二级", "Secondary"),
    "tertiary": _t("三级", "Tertiary"),
    "unknown": _t("未知（校验未通过）", "Unknown (failed validation)"),
}
SETTINGS: dict[str, Label] = {
    "inpatient": _t("住院", "Inpatient"),
    "outpatient": _t("门诊（初诊或随访）", "Outpatient (first visit or follow-up)"),
    "unknown": _t("未记录", "Not recorded"),
}
ISSUE_CODES: dict[str, Label] = {
    "unknown-fact": _t("未知字段", "Unknown fact"),
    "wrong-type": _t("类型错误", "Wrong type"),
    "not-finite": _t("非有限数值", "Not a finite number"),
    "out-of-range": _t("超出合理范围", "Out of the plausible range"),
    "not-allowed": _t("不允许的取值", "Value not allowed"),
    "missing-required": _t("缺少必填项", "Required fact missing"),
    "not-an-object": _t("不是对象", "Not an object"),
    "too-many-facts": _t("字段过多", "Too many facts"),
    "bad-row": _t("无法读取的行（字段数不符、编码错误或文件被截断）",
                  "Line that is not a row (wrong field count, bad encoding or a cut-off file)"),
    "unknown-condition": _t("未知病种", "Unknown condition"),
}

PLAN: dict[str, str] = {
    "title": "林口县人民政府办公室关于印发进一步加强医疗联合体建设推进分级诊疗工作实施方案的通知"
             "（林政办规〔2017〕11号）",
    "title_en": "Linkou County Government Office: implementation plan for strengthening medical "
                "consortia and tiered care (Lin Zheng Ban Gui [2017] No. 11)",
}


TARGETS: dict[str, Any] = {
    "down_transfer": {
        "name": _t("符合下转标准的住院患者中实际下转的比例",
                   "Share of inpatients meeting the down-transfer criteria who were transferred "
                   "down"),
        "targets": [{"year": 2017, "value": 0.2, "kind": "at_least"},
                    {"year": 2020, "value": 0.5, "kind": "at_least"}],
        "citation": {**PLAN, "clause": "二（四）1",
                     "quote": "2017年，试点病种住院患者下转人数要达到符合试点病种下转标准总人数的"
                              "20%；2020年，试点病种住院患者下转人数要达到符合试点病种下转标准"
                              "总人数的50%。"},
    },
    "outpatient_down": {
        "name": _t("二、三级医院门诊患者下转比例",
                   "Share of outpatients at secondary and tertiary hospitals transferred down"),
        "targets": [{"year": 2017, "value": 0.2, "kind": "at_least"}],
        "citation": {**PLAN, "clause": "二（四）1",
                     "quote": "2017年，各二、三级医院试点病种门诊下转患者人数占试点病种门诊总人数"
                              "20%；2020年，门诊下转人数占总收入院总数30%。"},
        "note": _t("2020年目标的分母为“总收入院总数”（入院人数），与门诊人数不可比，未计算。",
                   "The 2020 target's denominator is total admissions, not outpatients; it is "
                   "not computed."),
    },
    "up_referral": {
        "name": _t("向上转诊率", "Up-referral rate"),
        "caps": [{"level": "secondary", "year": 2020, "value": 0.2, "kind": "at_most"},
                 {"level": "primary", "year": 2020, "value": 0.3, "kind": "at_most"}],
        "citation": {**PLAN, "clause": "二（四）4",
                     "quote": "到2020年，二级医院向上转诊率控制在20%以内，一级医院控制在30%以内。"},
        "note": _t("“一级医院”按本项目的基层（primary）级别计；分母为该级别被评估的患者数。",
                   "\"一级医院\" (first-level hospitals) is taken as this project's primary "
                   "level; the denominator is the patients evaluated at that level."),
    },
}
