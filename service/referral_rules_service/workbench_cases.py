"""The workbench's test cases: list and run the YAML cases of the loaded rules (with the diff of
each failure), and turn a patient from the form into a case in the ruleset format.

Cases run through the library's ``run_cases``; a new case's ``expect`` is what the library's
decision says, and the snippet is checked by reading it back with the library's own YAML loader
and strict case model and running it like ``referral-rules test`` does.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from referral_rules import Bundle, Engine
from referral_rules.ir import CaseSpec
from referral_rules.loader import load_yaml
from referral_rules.model import Case
from referral_rules.testing import CaseResult, run_cases

from .workbench_views import expectation

__all__ = ["case_snippet", "list_cases", "run_selected"]

#: the order of ``expect`` keys in a snippet, as in the ruleset-format reference
_EXPECT_KEYS = ("direction", "urgency", "target_level", "destination", "fired", "records",
                "deferrable", "refusal", "complete", "confirm", "possible_emergencies",
                "derived")
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
#: what JSON leaves as it is but YAML does not take as itself in a double-quoted scalar:
#: characters it does not allow (YAML 1.1 §5.1) and the line breaks it folds (§5.4)
_ESCAPE = re.compile("[\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]")
#: words a YAML 1.1 reader (or a person) could take for something other than a string
_RESERVED = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "nan", "inf"}


def _conditions(spec: CaseSpec) -> str | list[str]:
    return "all" if spec.conditions is None else list(spec.conditions)


def list_cases(bundle: Bundle) -> dict[str, Any]:
    """Every case of the loaded rules, by file in load order: name, criterion, line, the
    rulesets it evaluates, its facts and its ``expect`` as written."""
    titles = {Path(rs.file).name: (rs.id, rs.title) for rs in bundle.rulesets.values()}
    files: dict[str, dict[str, Any]] = {}
    for spec in bundle.cases:
        name = Path(spec.file).name
        group = files.get(name)
        if group is None:
            ruleset, title = titles.get(name, (None, None))
            group = files[name] = {
                "file": name, "ruleset": ruleset,
                "title": {"zh": title.zh, "en": title.en} if title else None, "cases": []}
        group["cases"].append({
            "index": spec.index, "line": spec.line, "name": spec.case.name,
            "criterion": spec.case.criterion, "conditions": _conditions(spec),
            "facts": {k: v for k, v in spec.case.facts.items() if v is not None},
            "expect": spec.expect.model_dump(mode="json", exclude_unset=True)})
    return {"total": len(bundle.cases), "files": list(files.values())}


def _diff(result: CaseResult) -> list[dict[str, Any]]:
    """Each ``expect`` key of the case: what it expects, what the decision gives, and whether
    the library's check found them different (its problem lines start with the key)."""
    if result.decision is None:
        return []
    got = expectation(result.decision)
    got["not_fired"] = got["fired"]
    written = result.spec.expect.model_dump(mode="json", exclude_unset=True)
    out = []
    for key, want in written.items():
        wrong = any(p.startswith((f"{key}:", f"{key} ")) for p in result.problems)
        actual = got.get(key)
        if key == "derived" and isinstance(actual, dict) and isinstance(want, dict):
            actual = {k: actual.get(k) for k in want}
        out.append({"key": key, "expected": want, "actual": actual, "ok": not wrong})
    return out


def _result(result: CaseResult) -> dict[str, Any]:
    d = result.decision
    return {
        "file": Path(result.spec.file).name, "index": result.spec.index,
        "line": result.spec.line, "name": result.spec.case.name, "passed": result.passed,
        "problems": list(result.problems), "diff": _diff(result),
        "decision": None if d is None else {
            "direction": d.direction, "urgency": d.urgency, "target_level": d.target_level,
            "fired": list(d.fired_ids)}}


def run_selected(bundle: Bundle, engine: Engine, file: str | None,
                 index: int | None) -> dict[str, Any] | None:
    """Run the cases of one file (or one case of it, or every case); None when nothing is
    named that way. Coverage is reported only for a run of every case: it is a property of
    the whole set."""
    chosen = tuple(s for s in bundle.cases
                   if (file is None or Path(s.file).name == file)
                   and (index is None or s.index == index))
    if not chosen:
        return None
    report = run_cases(dataclasses.replace(bundle, cases=chosen), engine)
    results = [_result(r) for r in report.results]
    coverage = None
    if file is None and index is None:
        cov = report.coverage
        coverage = {"percent": round(cov.percent, 1), "rules_total": cov.rules_total,
                    "rules_unfired": cov.rules_unfired,
                    "derivations_total": cov.derivations_total,
                    "derivations_unused": cov.derivations_unused,
                    "thresholds_total": cov.thresholds_total,
                    "thresholds_uncovered": cov.thresholds_uncovered}
    passed = sum(r["passed"] for r in results)
    return {"passed": passed, "failed": len(results) - passed, "results": results,
            "coverage": coverage}


# --- a patient as a case -----------------------------------------------------------------------


def _scalar(value: Any) -> str:
    """One YAML scalar that the project's loader reads back as exactly ``value``."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            msg = "a case value must be finite"
            raise ValueError(msg)
        text = repr(value)
        if "e" in text or "E" in text:  # PyYAML reads 1e-05 as a string
            text = format(value, "f").rstrip("0")
            text = text + "0" if text.endswith(".") else text
        return text
    text = str(value)
    if _PLAIN.match(text) and text.lower() not in _RESERVED:
        return text
    quoted = json.dumps(text, ensure_ascii=False)  # a JSON string is a YAML double-quoted one
    return _ESCAPE.sub(lambda m: f"\\u{ord(m.group()):04x}", quoted)


def _flow(items: Sequence[Any]) -> str:
    return "[" + ", ".join(_scalar(i) for i in items) + "]"


def _mapping(values: Mapping[str, Any]) -> str:
    return "{" + ", ".join(f"{k}: {_scalar(v)}" for k, v in values.items()) + "}"


def snippet_text(case: Mapping[str, Any]) -> str:
    """The case as a YAML list item, indented to sit under ``cases:`` in any ruleset file or
    in a cases file such as ``cross_condition.yaml``."""
    lines = [f"  - name: {json.dumps(case['name'], ensure_ascii=False)}"]
    if case.get("criterion"):
        lines.append(f"    criterion: {_scalar(case['criterion'])}")
    conditions = case["conditions"]
    lines.append("    conditions: " + (conditions if conditions == "all" else _flow(conditions)))
    lines.append(f"    facts: {_mapping(case['facts'])}")
    lines.append("    expect:")
    for key, value in case["expect"].items():
        if isinstance(value, list):
            shown = _flow(value)
        elif isinstance(value, dict):
            shown = _mapping(value)
        else:
            shown = _scalar(value)
        lines.append(f"      {key}: {shown}")
    return "\n".join(lines) + "\n"


def case_snippet(bundle: Bundle, engine: Engine, facts: Mapping[str, Any],
                 conditions: Sequence[str] | None, name: str,
                 criterion: str | None) -> dict[str, Any]:
    """The patient as a test case whose ``expect`` is today's decision, as YAML, and the
    result of reading that YAML back and running it as a case. Raises FactsError /
    UnknownConditionError like ``Engine.evaluate``."""
    recorded = {k: v for k, v in facts.items() if v is not None}
    decision = engine.evaluate(recorded, conditions)
    got = expectation(decision)
    expect = {k: got[k] for k in _EXPECT_KEYS if not (k == "derived" and not got[k])}
    ordered = {k: recorded[k] for k in bundle.vocabulary.facts if k in recorded}
    case = {"name": name, "criterion": criterion,
            "conditions": "all" if conditions is None else list(conditions),
            "facts": ordered, "expect": expect}
    text = snippet_text(case)
    problems = _verify(bundle, engine, text)
    return {"yaml": text, "case": case, "verified": not problems, "problems": problems}


def _verify(bundle: Bundle, engine: Engine, text: str) -> list[str]:
    """Read ``text`` back as the library reads a case (its YAML loader, the strict case model)
    and run it on ``engine``: the problems, or none."""
    try:
        data, _, issues = load_yaml("cases:\n" + text, "snippet.yaml")
    except yaml.YAMLError as exc:  # the loader raises some reader errors instead of reporting
        return [f"the YAML could not be read: {exc}"]
    if issues or not isinstance(data, dict) or not isinstance(data.get("cases"), list):
        return [str(i) for i in issues] or ["the snippet is not a list of cases"]
    try:
        case = Case.model_validate(data["cases"][0])
    except ValidationError as exc:
        return [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
    conditions = None if case.conditions == "all" else tuple(case.conditions or ())
    spec = CaseSpec(case, case.expect, conditions, "snippet.yaml", 2, 0)
    report = run_cases(dataclasses.replace(bundle, cases=(spec,)), engine)
    return list(report.results[0].problems)
