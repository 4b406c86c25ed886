"""Tiered-care indicators from a batch output (``referral-rules batch … --report report.html``).

Reads the batch's output Parquet (or an Arrow table of the same schema) in row batches, so memory
stays bounded, and counts: rows by direction, condition, care level and setting; the inpatients
meeting a down-transfer criterion and what the rules advise for them (down; down with checks
outstanding; stay); where ``actual_transfer`` is present, the down-transfer and up-referral rates
against seed 002's targets (each cited with its clause); the criteria that fire most; the facts
whose absence leaves rows incomplete; the rows with possible emergencies; validation failures.
docs/report.md explains every figure.

Every count adds up: ``rows.total == rows.ok + rows.failed`` and each by-level, by-setting and
direction table sums to ``rows.total``. A patient with several conditions counts once under each
of them in the by-condition table. Rates use the evaluated (ok) rows; failed rows are counted
apart, with their issue codes.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

from ..decision import DISCLAIMER
from ..ir import Bundle
from ..link import load_rulesets
from ._report_scan import Cell, Tally, metadata, tally
from ._report_text import (
    ADVICE,
    DIRECTIONS,
    FORMAT,
    ISSUE_CODES,
    LEVELS,
    MET,
    SETTINGS,
    TARGETS,
    URGENCIES,
    label,
)

__all__ = ["REPORT_COLUMNS", "TOP", "Report", "build_report"]

REPORT_COLUMNS = ("visit_type", "actual_transfer")
"""Input columns the batch must carry through to its output for this report (when present):
``visit_type`` says who is an inpatient (the vocabulary's ``visit_type == inpatient``), and
``actual_transfer`` (``up`` / ``down`` / ``none``) what really happened."""
TOP = 15
_HOSPITAL = ("secondary", "tertiary")
_OUTPATIENT = ("first_visit", "follow_up")


@dataclass(frozen=True)
class Report:
    """The indicators of one batch output; ``to_dict`` is the whole content."""

    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready data (a deep copy)."""
        copy: dict[str, Any] = json.loads(self.to_json())
        return copy

    def to_json(self) -> str:
        """The report as JSON: the same input and rules give the same bytes."""
        return json.dumps(self.data, ensure_ascii=False, indent=2) + "\n"

    def write_json(self, path: str | Path) -> None:
        """Write ``to_json()`` to ``path`` (UTF-8)."""
        Path(path).write_text(self.to_json(), encoding="utf-8")

    def to_html(self) -> str:
        """One self-contained bilingual HTML page with the charts (works offline)."""
        from .report_html import render

        return render(self.data)

    def write_html(self, path: str | Path) -> None:
        """Write ``to_html()`` to ``path`` (UTF-8)."""
        Path(path).write_text(self.to_html(), encoding="utf-8")


def build_report(output: str | Path | pa.Table, rules: str | Path | Bundle = "rulesets") -> Report:
    """The indicators of a batch output.

    Args:
        output: the batch's output Parquet file, or an Arrow table with its schema.
        rules: the rules directory (or loaded bundle) for rule titles and fact labels; the
            rulesets the batch used are read from the output's metadata.
    """
    bundle = rules if isinstance(rules, Bundle) else load_rulesets(rules)
    down = {r.id: r.ruleset for r in bundle.rules if r.direction == "down"}
    return Report(_assemble(bundle, tally(output, REPORT_COLUMNS, down)))


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _assemble(bundle: Bundle, t: Tally) -> dict[str, Any]:
    cube, names = t.cube, set(t.schema.names)
    total = sum(cube.values())
    failed = sum(n for c, n in cube.items() if c.direction == "failed")
    ok = total - failed
    complete = sum(n for c, n in cube.items() if c.direction != "failed" and c.complete)
    return {
        "format": FORMAT,
        "title": {"zh": "分级诊疗转诊指标报告", "en": "Tiered-care referral indicators"},
        "disclaimer": DISCLAIMER.model_dump(),
        "source": _source(bundle, metadata(t.schema), total),
        "rows": {"total": total, "ok": ok, "failed": failed, "complete": complete,
                 "incomplete": ok - complete},
        "direction": _by_direction(cube, total),
        "urgency": _urgency(cube),
        "by_condition": _by_condition(bundle, cube),
        "by_level": _crosstab(cube, "level", LEVELS),
        "by_setting": _crosstab(cube, "setting", SETTINGS),
        "inpatients": _inpatients(bundle, cube, "visit_type" in names),
        "targets": _targets(cube, "actual_transfer" in names, "visit_type" in names),
        "top_criteria": _top_criteria(bundle, t.fired, ok),
        "top_missing_facts": _top_missing(bundle, t.missing, ok),
        "possible_emergencies": _possible(bundle, cube, t.emergencies, ok),
        "failures": _failures(bundle, t.codes, t.fact_codes, failed),
        "refusal": [{"status": k, "rows": t.refusal[k]} for k in sorted(t.refusal)],
    }


def _source(bundle: Bundle, meta: dict[str, Any], total: int) -> dict[str, Any]:
    used = [{"id": str(r.get("id")), "version": str(r.get("version")),
             "sha256": str(r.get("sha256"))}
            for r in meta.get("rulesets", []) if isinstance(r, dict)]
    loaded = {"facts": bundle.vocabulary_sha256, "policy": bundle.policy.sha256,
              **{rs.id: rs.sha256 for rs in bundle.rulesets.values()}}
    suggestions = meta.get("column_suggestions")
    unknown = meta.get("unknown_columns")
    transfer = meta.get("actual_transfer")
    return {
        "input": meta.get("input"),
        "unknown_columns": [
            {"column": str(c), "suggestion": suggestions.get(c)
             if isinstance(suggestions, dict) else None}
            for c in (unknown if isinstance(unknown, list) else [])],
        "actual_transfer": transfer if isinstance(transfer, dict) else None,
        "backend": meta.get("backend"),
        "version": meta.get("version"),
        "rows_in_metadata": meta.get("rows"),
        "rows_match_metadata": meta.get("rows") == total if "rows" in meta else None,
        "rulesets": used,
        "labels_from_same_rulesets": all(loaded.get(r["id"]) == r["sha256"] for r in used)
        if used else None,
    }


def _by_direction(cube: Counter[Cell], total: int) -> list[dict[str, Any]]:
    counts = Counter[str]()
    for c, n in cube.items():
        counts[c.direction] += n
    keys = [k for k in DIRECTIONS if k in counts or k != "unknown"]
    return [{"direction": k, "label": label(DIRECTIONS, k), "rows": counts[k],
             "share": _rate(counts[k], total)} for k in keys]


def _urgency(cube: Counter[Cell]) -> list[dict[str, Any]]:
    counts = Counter[str]()
    for c, n in cube.items():
        if c.direction == "up":
            counts[c.urgency] += n
    up = sum(counts.values())
    return [{"urgency": k, "label": label(URGENCIES, k), "rows": counts[k],
             "share_of_up": _rate(counts[k], up)} for k in URGENCIES]


def _row(key: str, lab: dict[str, str], counts: Counter[str]) -> dict[str, Any]:
    row: dict[str, Any] = {"key": key, "label": lab, "rows": sum(counts.values())}
    row.update({d: counts[d] for d in DIRECTIONS if d != "unknown" or counts[d]})
    return row


def _setting(visit: str) -> str:
    return "inpatient" if visit == "inpatient" else \
        "outpatient" if visit in _OUTPATIENT else "unknown"


def _crosstab(cube: Counter[Cell], dim: str, keys: dict[str, dict[str, str]]
              ) -> list[dict[str, Any]]:
    table: dict[str, Counter[str]] = {k: Counter() for k in keys}
    for c, n in cube.items():
        key = c.level if dim == "level" else _setting(c.visit)
        table.setdefault(key if key in keys else "unknown", Counter())[c.direction] += n
    return [_row(k, label(keys, k), v) for k, v in table.items()
            if k != "unknown" or v.total() > 0]


def _by_condition(bundle: Bundle, cube: Counter[Cell]) -> list[dict[str, Any]]:
    table: dict[str, Counter[str]] = {c: Counter() for c in bundle.rulesets}
    for c, n in cube.items():
        for cond in c.conditions or ("unknown",):
            table.setdefault(cond, Counter())[c.direction] += n
    out = []
    for key, counts in table.items():
        rs = bundle.rulesets.get(key)
        lab = rs.title.model_dump() if rs else {"zh": key, "en": key}
        out.append(_row(key, lab, counts))
    return out


def _advice(c: Cell) -> str:
    """What the rules advise for a row that met a down criterion (``ADVICE``'s keys)."""
    if c.direction != "down":
        return "stay"  # held by a recorded blocker (a stay criterion) or an up criterion
    return "checks_outstanding" if c.checks else "advised_down"


def _split(items: list[tuple[Cell, int]], condition: str | None = None) -> dict[str, Any]:
    """Inpatients, those meeting a down criterion (of ``condition``, or of any), and the
    advice for them: the three advice counts add up to ``met``."""
    rows = sum(n for _, n in items)
    met = [(c, n) for c, n in items if (condition in c.met if condition else c.met)]
    counts = Counter[str]()
    for c, n in met:
        counts[_advice(c)] += n
    total = sum(n for _, n in met)
    out: dict[str, Any] = {"rows": rows, "met": total, "met_share": _rate(total, rows)}
    for key in ADVICE:
        out[key] = counts[key]
        out[f"{key}_share"] = _rate(counts[key], rows)
    out["stay_up"] = sum(n for c, n in met if c.direction == "up")
    return out


def _inpatients(bundle: Bundle, cube: Counter[Cell], have_visit: bool) -> dict[str, Any]:
    """Inpatients at secondary or tertiary level (where a down-transfer is possible): how many
    meet a down criterion, and whether the rules advise down, down with checks outstanding,
    or stay."""
    if not have_visit:
        return {"available": False, "needs_column": "visit_type"}
    ward = [(c, n) for c, n in cube.items()
            if c.direction != "failed" and c.visit == "inpatient" and c.level in _HOSPITAL]
    at_primary = sum(n for c, n in cube.items() if c.direction != "failed"
                     and c.visit == "inpatient" and c.level == "primary")
    by_level = [{"key": k, "label": LEVELS[k], **_split([(c, n) for c, n in ward
                                                         if c.level == k])}
                for k in _HOSPITAL]
    # Only the conditions that have a down criterion (the cross-cutting critical ruleset has
    # none); a row counts under a condition it was evaluated for, as in by_condition.
    with_down = dict.fromkeys(r.ruleset for r in bundle.rules if r.direction == "down")
    by_condition = [{"key": k, "label": rs.title.model_dump(),
                     **_split([(c, n) for c, n in ward if k in c.conditions], k)}
                    for k, rs in bundle.rulesets.items() if k in with_down]
    return {"available": True, **_split(ward), "inpatients_at_primary": at_primary,
            "labels": {"met": MET, **ADVICE},
            "by_level": by_level, "by_condition": by_condition}


def _targets(cube: Counter[Cell], have_actual: bool, have_visit: bool) -> dict[str, Any]:
    """The seed 002 targets against what actually happened (``actual_transfer``)."""
    seen = have_actual and any(c.actual for c in cube)
    if not seen:
        return {"available": False, "needs_column": "actual_transfer"}
    ok = [(c, n) for c, n in cube.items() if c.direction != "failed"]
    out: dict[str, Any] = {"available": True}
    if have_visit:
        ward = [(c, n) for c, n in ok if c.visit == "inpatient" and c.level in _HOSPITAL]
        # The clause's denominator: inpatients meeting the down criteria, whatever the advice.
        met = sum(n for c, n in ward if c.met)
        done = Counter[str]()
        for c, n in ward:
            if c.met and c.actual == "down":
                done[_advice(c)] += n
        transferred = sum(done.values())
        other = sum(n for c, n in ward if not c.met and c.actual == "down")
        advised = sum(n for c, n in ward if c.met and c.direction == "down")
        rate = _rate(transferred, met)
        out["down_transfer"] = {
            **TARGETS["down_transfer"], "met": met, "transferred": transferred, "rate": rate,
            "transferred_by_advice": {k: done[k] for k in ADVICE},
            "transferred_not_met": other,
            "clause_ratio": _rate(transferred + other, met),
            "rules_down": advised, "rules_rate": _rate(advised, met),
            "targets_met": [{"year": t["year"], "met": rate is not None and rate >= t["value"]}
                            for t in TARGETS["down_transfer"]["targets"]],
        }
        clinic = [(c, n) for c, n in ok if c.visit in _OUTPATIENT and c.level in _HOSPITAL]
        whole = sum(n for _, n in clinic)
        down = sum(n for c, n in clinic if c.actual == "down")
        out["outpatient_down"] = {
            **TARGETS["outpatient_down"], "rows": whole, "transferred": down,
            "rate": _rate(down, whole),
            "rules_down": sum(n for c, n in clinic if c.direction == "down"),
        }
    caps = []
    for cap in TARGETS["up_referral"]["caps"]:
        level = [(c, n) for c, n in ok if c.level == cap["level"]]
        whole = sum(n for _, n in level)
        up = sum(n for c, n in level if c.actual == "up")
        rules_up = sum(n for c, n in level if c.direction == "up")
        rate = _rate(up, whole)
        caps.append({**cap, "label": LEVELS[cap["level"]], "rows": whole, "referred": up,
                     "rate": rate, "within_cap": rate is not None and rate <= cap["value"],
                     "rules_up": rules_up, "rules_rate": _rate(rules_up, whole)})
    out["up_referral"] = {**{k: v for k, v in TARGETS["up_referral"].items() if k != "caps"},
                          "caps": caps}
    return out


def _possible(bundle: Bundle, cube: Counter[Cell], rules: Counter[str], ok: int
              ) -> dict[str, Any]:
    """Rows with an emergency criterion that unrecorded facts leave open, whatever their
    direction, and the criteria most often left open."""
    rows = sum(n for c, n in cube.items() if c.direction != "failed" and c.emergency)
    by_direction = Counter[str]()
    for c, n in cube.items():
        if c.direction != "failed" and c.emergency:
            by_direction[c.direction] += n
    known = {r.id: r for r in bundle.rules}
    top = []
    for rule_id, n in sorted(rules.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]:
        r = known.get(rule_id)
        top.append({"rule": rule_id, "rows": n, "share": _rate(n, ok),
                    "ruleset": r.ruleset if r else None,
                    "title": r.title.model_dump() if r else None})
    return {"rows": rows, "share": _rate(rows, ok),
            "by_direction": {k: by_direction[k] for k in ("up", "down", "stay")},
            "top_rules": top}


def _top_criteria(bundle: Bundle, fired: Counter[str], ok: int) -> list[dict[str, Any]]:
    rules = {r.id: r for r in bundle.rules}
    out = []
    for rule_id, n in sorted(fired.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]:
        r = rules.get(rule_id)
        out.append({"rule": rule_id, "rows": n, "share": _rate(n, ok),
                    "ruleset": r.ruleset if r else None, "criterion": r.criterion if r else None,
                    "direction": r.direction if r else None,
                    "urgency": r.urgency if r else None,
                    "title": r.title.model_dump() if r else None})
    return out


def _fact_label(bundle: Bundle, fact: str) -> dict[str, str] | None:
    spec = bundle.vocabulary.facts.get(fact)
    return {"zh": spec.zh, "en": spec.en} if spec else None


def _top_missing(bundle: Bundle, missing: Counter[str], ok: int) -> list[dict[str, Any]]:
    return [{"fact": f, "rows": n, "share": _rate(n, ok), "label": _fact_label(bundle, f)}
            for f, n in sorted(missing.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]]


def _failures(bundle: Bundle, codes: Counter[str], fact_codes: Counter[tuple[str, str]],
              failed: int) -> dict[str, Any]:
    return {
        "rows": failed,
        "codes": [{"code": k, "label": label(ISSUE_CODES, k), "rows": n}
                  for k, n in sorted(codes.items(), key=lambda kv: (-kv[1], kv[0]))],
        "facts": [{"fact": f, "code": c, "rows": n, "label": _fact_label(bundle, f)}
                  for (f, c), n in sorted(fact_codes.items(),
                                          key=lambda kv: (-kv[1], kv[0]))[:TOP]],
    }
