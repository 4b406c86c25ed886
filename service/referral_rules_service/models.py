"""Request and response bodies of the REST API (their JSON Schemas are in the OpenAPI)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from referral_rules import Decision

__all__ = [
    "CLOCK_SKEW",
    "DecisionRequest",
    "DecisionResponse",
    "FeedbackRequest",
    "Instant",
    "Problem",
    "RefusalDetails",
    "ReloadResult",
    "RulesetDetail",
    "RulesetSummary",
    "instant_issue",
    "parse_instant",
]

#: how far a client's clock may run ahead of ours
CLOCK_SKEW = timedelta(minutes=5)


def parse_instant(text: str) -> datetime:
    """An ISO 8601 / RFC 3339 date-time with its UTC offset (``2026-11-22T10:30:00+08:00``,
    ``…Z``), not in the future; ValueError otherwise."""
    try:
        when = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z"))
                                      else text)
    except ValueError:
        msg = "must be an ISO 8601 date-time such as 2026-11-22T10:30:00+08:00"
        raise ValueError(msg) from None
    if when.tzinfo is None or when.utcoffset() is None:
        msg = "must carry its UTC offset (e.g. +08:00 or Z)"
        raise ValueError(msg)
    if when > datetime.now(UTC) + CLOCK_SKEW:
        msg = "must not be in the future"
        raise ValueError(msg)
    return when


def instant_issue(text: str, path: str) -> dict[str, str] | None:
    """The problem with a date-time the service records, or None. Checked by the endpoints
    once they have found the record it belongs to (an unknown record is a 404 first)."""
    try:
        parse_instant(text)
    except ValueError as exc:
        return {"path": path, "code": "invalid-date-time", "message": f"{exc} (got {text!r})"}
    return None


#: an ISO 8601 date-time with its offset, not in the future (checked by ``instant_issue``)
Instant = Annotated[str, Field(min_length=10, max_length=40,
                               json_schema_extra={"format": "date-time"})]

_EXAMPLE_FACTS: dict[str, JsonValue] = {
    "care_level": "primary", "has_hypertension": True, "visit_type": "follow_up",
    "sbp": 185, "dbp": 112, "age": 64}


class DecisionRequest(BaseModel):
    """One patient's facts (names and units: ``GET /v1/facts``)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"facts": _EXAMPLE_FACTS, "conditions": ["hypertension"],
                      "accepts_transfer": "yes", "lang": "zh"}],
        # the acceptance is given in one place: here or as facts.accepts_transfer
        "not": {"required": ["accepts_transfer", "facts"],
                "properties": {"facts": {"required": ["accepts_transfer"]}}}})

    facts: dict[str, Any] = Field(description="Fact name → value, as in the vocabulary.")
    conditions: list[str] | None = Field(
        default=None, min_length=1, max_length=32,
        description="Ruleset ids to evaluate (default: all loaded rulesets).")
    accepts_transfer: Literal["yes", "no", "not_asked"] | None = Field(
        default=None, description="Whether the patient (or family) accepts the recommended "
        "transfer; the same as the fact accepts_transfer (give it in one place, not both). "
        "\"no\" = declined: a signed refusal is then required.")
    lang: Literal["zh", "en"] | None = Field(
        default=None, description="Also return a readable explanation in this language.")
    patient_id: str | None = Field(
        default=None, max_length=200,
        description="Optional: stored only as a keyed hash in the audit, never as given.")


class DecisionResponse(Decision):
    """The library's decision (advice for a clinician, never an order) with its audit id."""

    decision_id: str = Field(description="Audit id of this decision (GET /v1/decisions/{id}).")
    explanation: str | None = Field(default=None, description="Readable text, when lang given.")


class Problem(BaseModel):
    """Every error answer: a code, a message, and the problems one by one.

    Each issue has ``code`` and ``message``; ``path`` says where in the request it is
    (``body.facts.sbp``, ``prefetch.observations.entry[2].resource.valueQuantity.value``), and
    fact issues add ``fact`` and ``suggestion``; ruleset issues (reload) add ``file``, ``line``,
    ``column`` and ``text`` (``file:line:column: problem``)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"error": "invalid-facts", "message": "1 invalid fact",
         "issues": [{"path": "body.facts.sbp", "fact": "sbp", "code": "wrong-type",
                     "message": "expected a number, got a string", "suggestion": None}]}]})
    error: str = Field(description="invalid-facts, invalid-request, invalid-fhir, "
                       "invalid-feedback, unauthorized, forbidden, not-found, "
                       "precondition-failed, request-too-large, unavailable, …")
    message: str
    issues: list[dict[str, Any]] = Field(default_factory=list)


class RulesetSummary(BaseModel):
    id: str
    version: str
    sha256: str
    title: dict[str, str]
    rules: int
    file: str


class RulesetDetail(RulesetSummary):
    """A ruleset: every rule with what it advises and the sources it cites."""

    specialty: str | None
    items: list[dict[str, Any]] = Field(description="The rules in file order.")
    sources: list[dict[str, Any]] = Field(description="Every cited source with its clauses.")


class ReloadResult(BaseModel):
    ok: bool
    generation: int
    rulesets: list[dict[str, str]]
    issues: list[dict[str, Any]] = Field(default_factory=list)


class RefusalDetails(BaseModel):
    """What the signed refusal form captured (the paper form stays in the chart)."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000)
    signer: str = Field(min_length=1, max_length=200)
    signer_relation: str = Field(min_length=1, max_length=80,
                                 description="self, spouse, child, parent, guardian, …")
    signed_at: Instant = Field(description="ISO 8601 date-time with its UTC offset, when the "
                               "form was signed (not in the future)")


class FeedbackRequest(BaseModel):
    """What happened to a decision: accepted, overridden, or declined by the patient."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"decision_id": "2f0d3c1e-8a55-4c1c-9d43-3f7b5c0f8e11", "outcome": "declined",
         "refusal": {"reason": "家属要求在本院继续治疗", "signer": "张某",
                     "signer_relation": "spouse", "signed_at": "2026-11-22T10:30:00+08:00"}}]})
    decision_id: str = Field(min_length=1, max_length=64)
    outcome: Literal["accepted", "overridden", "declined"]
    comment: str | None = Field(default=None, max_length=2000)
    refusal: RefusalDetails | None = Field(
        default=None, description="For outcome=declined: the signed form's content, when signed.")
