"""Request and response bodies of the workbench API (``/v1/workbench/…``), with examples."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, JsonValue

from referral_rules import Decision

from .workbench_draft import FILE_NAME

__all__ = [
    "CaseRequest",
    "CaseSnippet",
    "CasesList",
    "DraftRequest",
    "DraftResult",
    "Evaluation",
    "EvaluationRequest",
    "FileList",
    "FileText",
    "FormSchema",
    "LintResult",
    "RulesetView",
    "RunRequest",
    "RunResult",
]

_FACTS: dict[str, JsonValue] = {"care_level": "primary", "has_hypertension": True,
                                "visit_type": "first_visit", "sbp": 182, "dbp": 96}
_Conditions = Field(
    default=None, min_length=1, max_length=32,
    description="Ruleset ids to evaluate, each in full; default (null): every loaded ruleset "
                "where its applies_to scope holds, as the HIS integration does.")


class EvaluationRequest(BaseModel):
    """One patient from the form. Nothing is audited or stored."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [
        {"facts": _FACTS, "conditions": None, "lang": "zh"}]})
    facts: dict[str, Any] = Field(description="Fact name → value, as in the vocabulary; a fact "
                                  "left out (or null) is not recorded.")
    conditions: list[str] | None = _Conditions
    lang: Literal["zh", "en"] = Field(default="en",
                                      description="Language of the presentation (zh or en).")


class Evaluation(BaseModel):
    """The library's decision with what the page shows beside it."""

    decision: Decision = Field(description="Byte for byte what Decision.to_json() gives.")
    presentation: dict[str, Any] = Field(description="The decision as present() gives it in "
                                         "the chosen language: headline, facts, sections.")
    rules: dict[str, dict[str, Any]] = Field(
        description="Each rule the decision names (fired, undetermined, possible emergency): "
                    "ruleset, file and line in the YAML, the condition as written, title.")
    undetermined: list[dict[str, Any]] = Field(
        description="Rules that unrecorded facts leave open and that would change the advice, "
                    "each with the facts that would decide it.")
    recorded: list[str] = Field(description="The facts the request recorded.")


class FormSchema(BaseModel):
    """The patient form, generated from the vocabulary and the rulesets' scopes."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "generation": 1, "directory": "rulesets",
        "versions": [{"id": "facts", "version": "2026.12.1", "sha256": "…"}],
        "rulesets": [{"id": "hypertension", "title": {"zh": "高血压", "en": "Hypertension"},
                      "version": "1.0.0", "file": "hypertension.yaml",
                      "scope": "has_hypertension or bp_raised",
                      "scope_facts": ["has_hypertension", "sbp", "dbp"], "rules": 31,
                      "cases": 113}],
        "facts": {"sbp": {"type": "number", "unit": "mmHg", "range": [40, 300],
                          "values": None, "label": {"zh": "收缩压",
                                                    "en": "Systolic blood pressure"},
                          "required": False, "informational": False, "derive": None,
                          "used_by": ["HTN-U1-SEVERE-BP"]}},
        "groups": [{"id": "hypertension", "ruleset": "hypertension",
                    "title": {"zh": "高血压", "en": "Hypertension"},
                    "scope": "has_hypertension or bp_raised",
                    "sections": [{"kind": "scope", "facts": ["has_hypertension", "sbp", "dbp"]},
                                 {"kind": "criteria", "facts": ["visit_type"]}],
                    "shared": []}]}]})
    generation: int
    directory: str
    versions: list[dict[str, str]]
    rulesets: list[dict[str, Any]]
    facts: dict[str, dict[str, Any]]
    groups: list[dict[str, Any]]


class CasesList(BaseModel):
    """Every YAML case of the loaded rules, by file."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"total": 1, "files": [{
        "file": "hypertension.yaml", "ruleset": "hypertension",
        "title": {"zh": "高血压", "en": "Hypertension"},
        "cases": [{"index": 0, "line": 875, "name": "SBP exactly 180 (boundary)",
                   "criterion": "HTN-U1", "conditions": ["hypertension"],
                   "facts": {"care_level": "primary", "sbp": 180, "dbp": 95},
                   "expect": {"direction": "up"}}]}]}]})
    total: int
    files: list[dict[str, Any]]


def _not_a_boolean(value: Any) -> Any:
    if isinstance(value, bool):
        msg = "must be a whole number, not true or false"
        raise ValueError(msg)  # pydantic reports a ValueError as a 422 issue
    return value


#: a case index: a whole number, as JSON Schema has it (896.0 is one), never a boolean
CaseIndex = Annotated[int, Field(strict=False, ge=0, le=1_000_000),
                      BeforeValidator(_not_a_boolean)]


class RunRequest(BaseModel):
    """Which cases to run: one file's, one case of it, or (nothing named) every case."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [
        {"file": "hypertension.yaml"}, {"file": "hypertension.yaml", "index": 3}, {}]})
    file: str | None = Field(default=None, pattern=FILE_NAME, description="A file name from "
                             "GET /v1/workbench/cases; null: every file.")
    index: CaseIndex | None = Field(default=None,
                              description="The case's index within its file.")


class RunResult(BaseModel):
    """Pass or fail per case, with each expected key against what the decision gives."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "passed": 0, "failed": 1, "coverage": None, "results": [{
            "file": "hypertension.yaml", "index": 3, "line": 912, "name": "…",
            "passed": False, "problems": ["direction: expected 'up', got 'stay'"],
            "diff": [{"key": "direction", "expected": "up", "actual": "stay", "ok": False}],
            "decision": {"direction": "stay", "urgency": None, "target_level": None,
                         "fired": []}}]}]})
    passed: int
    failed: int
    results: list[dict[str, Any]]
    coverage: dict[str, Any] | None = Field(
        description="Rule and threshold coverage, for a run of every case only.")


class CaseRequest(BaseModel):
    """The patient on the form, to be written as a test case."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [
        {"facts": _FACTS, "conditions": None, "name": "初诊 182/96 → 常规上转",
         "criterion": "HTN-U1"}]})
    facts: dict[str, Any] = Field(description="As for evaluate.")
    conditions: list[str] | None = _Conditions
    name: str = Field(min_length=1, max_length=300, description="The case's name.")
    criterion: str | None = Field(default=None, max_length=200,
                                  description="Optional: the criterion the case checks.")


class CaseSnippet(BaseModel):
    """A YAML list item for ``cases:`` whose ``expect`` is today's decision."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "yaml": "  - name: \"初诊 182/96 → 常规上转\"\n    criterion: HTN-U1\n"
                "    conditions: all\n    facts: {care_level: primary, sbp: 182, dbp: 96}\n"
                "    expect:\n      direction: up\n",
        "case": {"name": "初诊 182/96 → 常规上转", "conditions": "all"},
        "verified": True, "problems": []}]})
    yaml: str = Field(description="Paste under `cases:` of a ruleset file or a cases file.")
    case: dict[str, Any]
    verified: bool = Field(description="The YAML, read back by the library's loader and run "
                                       "as a case on the served rules, passes.")
    problems: list[str]


class RulesetView(BaseModel):
    """One ruleset for reading: scope, sources, thresholds, rules, Mermaid flow."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "hypertension", "version": "1.0.0", "sha256": "…", "file": "hypertension.yaml",
        "title": {"zh": "高血压", "en": "Hypertension"}, "specialty": None,
        "scope": "has_hypertension or bp_raised", "sources": [], "definitions": [],
        "rules": [], "not_encoded": [], "flow": "flowchart LR\n  …", "cases": 113}]})
    id: str
    version: str
    sha256: str
    file: str
    title: dict[str, str]
    specialty: str | None
    scope: str
    sources: list[dict[str, Any]]
    definitions: list[dict[str, Any]]
    rules: list[dict[str, Any]]
    not_encoded: list[dict[str, Any]]
    flow: str = Field(description="A Mermaid flowchart (rule → outcome).")
    cases: int


class LintResult(BaseModel):
    """``referral-rules lint`` of the rules directory on disk, with example patients."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "ok": True, "generation": 1, "issues": [], "findings": [{
            "file": "hypertension.yaml", "line": 40, "column": 11, "severity": "warning",
            "code": "redundant", "message": "…",
            "example": {"care_level": "primary", "sbp": 182}}]}]})
    ok: bool = Field(description="The files loaded (lint needs valid rulesets).")
    generation: int
    findings: list[dict[str, Any]]
    issues: list[dict[str, Any]] = Field(description="Load problems when ok is false.")


class FileList(BaseModel):
    """The YAML files of the rules directory."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"files": [
        {"file": "hypertension.yaml", "bytes": 118000}]}]})
    files: list[dict[str, Any]]


class FileText(BaseModel):
    """One rules file's text, for the draft editor."""

    file: str
    text: str


class DraftRequest(BaseModel):
    """A ruleset file being edited: validated in a temporary copy, never written."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [
        {"file": "hypertension.yaml", "text": "id: hypertension\nversion: \"1.0.0\"\n…"}]})
    file: str = Field(pattern=FILE_NAME, description="The file's name in the rules directory "
                      "(a new name adds a file).")
    text: str = Field(max_length=5_000_000, description="The whole file (the request body "
                      "limit applies too).")


class DraftResult(BaseModel):
    """Every problem at file:line:column, or what loads."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "ok": False, "file": "hypertension.yaml", "summary": None, "issues": [{
            "file": "hypertension.yaml", "line": 7, "column": 5, "path": "rules.2",
            "message": "unknown fact 'sbp_mmhg'", "code": "unknown-fact",
            "suggestion": "did you mean 'sbp'?",
            "text": "hypertension.yaml:7:5: rules.2: unknown fact 'sbp_mmhg' (did you mean "
                    "'sbp'?) [unknown-fact]"}]}]})
    ok: bool
    file: str
    issues: list[dict[str, Any]]
    summary: dict[str, Any] | None
