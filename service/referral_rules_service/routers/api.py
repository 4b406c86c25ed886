"""REST API: decisions, rulesets, the fact vocabulary, feedback and refusal records."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, HTTPException, Path
from fastapi.responses import JSONResponse, Response

from referral_rules import FactsError, UnknownConditionError

from ..decide import decide_async, fact_problems, facts_message
from ..deps import ApiKey, Services, get_services
from ..jsonbody import StrictJsonRoute
from ..models import (
    CLOCK_SKEW,
    DecisionRequest,
    DecisionResponse,
    FeedbackRequest,
    Problem,
    RulesetDetail,
    RulesetSummary,
    instant_issue,
    parse_instant,
)
from ..problems import ProblemError, problem
from ..rulesets import detail, summary
from ..store import feedback, now, refusals

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["decisions"], route_class=StrictJsonRoute)
Svc = Annotated[Services, Depends(get_services)]

_AUTH: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "Missing or wrong API key"},
    403: {"model": Problem, "description": "Disabled: no API key configured"}}
_INVALID: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "The body could not be read as JSON"},
    422: {"model": Problem, "description": "Invalid request; nothing was evaluated or stored"}}


@router.post(
    "/decisions",
    summary="Evaluate one patient",
    response_model=DecisionResponse,
    responses={**_INVALID, 413: {"model": Problem, "description": "Body too large"},
               503: {"model": Problem, "description": "The audit could not be stored"}},
)
async def post_decision(body: DecisionRequest, services: Svc) -> Response:
    """Evaluate the facts against the rulesets and return the decision: direction, urgency,
    target level, records to send, refusal requirement and every criterion that fired with
    its citation. Advice for a clinician, never an order. Every decision is audited (no
    patient identifiers: ``patient_id`` is stored only as a keyed hash)."""
    facts = dict(body.facts)
    limit = services.settings.max_facts
    if len(facts) > limit:  # before any name is looked at: no suggestion work for a flood
        return _facts_problem("body.facts", "(record)", "too-many-facts",
                              f"{len(facts)} facts given; at most {limit} are accepted")
    if "accepts_transfer" in body.model_fields_set:
        if "accepts_transfer" in facts:
            return _facts_problem("body.accepts_transfer", "accepts_transfer", "conflict",
                                  "accepts_transfer is given twice (here and in facts): "
                                  "give it in one place")
        facts["accepts_transfer"] = body.accepts_transfer
    vocabulary = services.rules.current.bundle.vocabulary
    if any(name not in vocabulary.facts for name in facts):
        # unknown names: the library's report (with did-you-mean for each) is CPU work, done
        # in a worker thread so that other clients are not held up
        try:
            await anyio.to_thread.run_sync(vocabulary.validate, facts, limiter=services.cpu)
        except FactsError as exc:
            return _invalid_facts(exc)
    try:
        made = await decide_async(services, facts, body.conditions, "api", body.patient_id)
    except FactsError as exc:
        return _invalid_facts(exc)
    except UnknownConditionError as exc:
        return _facts_problem("body.conditions", exc.name, "unknown-condition", str(exc),
                              exc.suggestion)
    text = made.decision.explain(body.lang) if body.lang else None
    return Response(made.json(text), media_type="application/json",
                    headers={"X-Decision-Id": made.decision_id})


def _invalid_facts(exc: FactsError) -> JSONResponse:
    issues = fact_problems(exc, "body.facts")
    return problem(422, "invalid-facts", facts_message(exc), issues)


def _facts_problem(path: str, fact: str, code: str, message: str,
                   suggestion: str | None = None) -> JSONResponse:
    return problem(422, "invalid-facts", message, [
        {"path": path, "fact": fact, "code": code, "message": message,
         "suggestion": suggestion}])


@router.get("/decisions/{decision_id}", summary="The audit record of a decision",
            dependencies=[ApiKey], responses={404: {"model": Problem}, **_AUTH, **_INVALID})
def get_decision(decision_id: Annotated[str, Path(max_length=64)],
                 services: Svc) -> dict[str, Any]:
    """When, with which ruleset versions, what was advised, and what happened afterwards
    (feedback and refusal records). No facts and no patient identifiers are kept."""
    record = services.store.decision(decision_id)
    if record is None:
        raise HTTPException(404, "no such decision")
    return record


@router.post("/feedback", summary="Record what happened to a decision", status_code=201,
             dependencies=[ApiKey],
             responses={404: {"model": Problem}, 503: {"model": Problem}, **_AUTH,
                        **_INVALID, 413: {"model": Problem}})
def post_feedback(body: FeedbackRequest, services: Svc) -> dict[str, Any]:
    """Accepted, overridden, or declined by the patient or family. A declined transfer creates
    a refusal record: ``signature_required`` until the signed form's content (reason, signer,
    relation, time) is given, then ``signed``. Answered only after the records are stored."""
    record = services.store.decision(body.decision_id)
    if record is None:
        raise HTTPException(404, "no such decision")
    wrong = _feedback_problem(body, record)
    if wrong is not None:
        raise wrong
    services.store.write(feedback, {
        "received_at": now(), "decision_id": body.decision_id, "service": "api",
        "outcome": body.outcome, "outcome_at": None, "accepted_suggestions": [],
        "override_system": None, "override_code": None, "override_display": None,
        "user_comment": body.comment})
    services.metrics.feedback.labels(body.outcome).inc()
    out: dict[str, Any] = {"decision_id": body.decision_id, "outcome": body.outcome,
                           "refusal": None}
    if body.outcome == "declined":
        out["refusal"] = store_refusal(services, body.decision_id, "api", body.refusal)
    return out


def _feedback_problem(body: FeedbackRequest, record: dict[str, Any]) -> ProblemError | None:
    """Feedback that cannot be true of this decision (422), or None."""
    issue: dict[str, str] | None = None
    if body.refusal is not None and body.outcome != "declined":
        issue = {"path": "body.refusal", "code": "refusal-without-decline",
                 "message": "a refusal form belongs to outcome 'declined' only"}
    elif body.outcome == "declined" and record["direction"] == "stay":
        issue = {"path": "body.outcome", "code": "no-transfer-advised",
                 "message": "this decision advised no transfer, so there is none to decline"}
    elif body.refusal is not None:
        issue = instant_issue(body.refusal.signed_at, "body.refusal.signed_at")
        made = datetime.fromisoformat(record["created_at"])
        if issue is None and parse_instant(body.refusal.signed_at) < made - CLOCK_SKEW:
            issue = {"path": "body.refusal.signed_at", "code": "signed-before-decision",
                     "message": "the refusal is dated before the decision it refuses "
                                f"(made at {made.isoformat()})"}
    if issue is None:
        return None
    return ProblemError(422, "invalid-feedback", issue["message"], [issue])


def store_refusal(services: Services, decision_id: str, source: str,
                  details: Any | None) -> dict[str, Any]:
    """Store a refusal record; without the form's content it says a signed form is required."""
    row: dict[str, Any] = {
        "id": str(uuid.uuid4()), "created_at": now(), "decision_id": decision_id,
        "source": source, "status": "signed" if details is not None else "signature_required",
        "captures": ["reason", "signer", "signer_relation", "signed_at"],
        "reason": None, "signer": None, "signer_relation": None, "signed_at": None}
    if details is not None:
        row.update(details.model_dump())
    services.store.write(refusals, row)
    message = ("Signed refusal recorded; keep the signed form in the chart." if details
               else "A signed refusal is required: the reason and the signature of the patient "
                    "or family, on the referral form kept in the chart.")
    return {"id": row["id"], "status": row["status"], "captures": row["captures"],
            "message": message}


@router.get("/rulesets", summary="The loaded rulesets", tags=["rulesets"])
def list_rulesets(services: Svc) -> list[RulesetSummary]:
    """Id, version, content hash (sha256), title and rule count of each loaded ruleset."""
    return summary(services.rules.current.bundle)


@router.get("/rulesets/{ruleset_id}", summary="One ruleset with its rules and sources",
            tags=["rulesets"], responses={404: {"model": Problem}, **_INVALID})
def get_ruleset(ruleset_id: Annotated[str, Path(max_length=64)],
                services: Svc) -> RulesetDetail:
    found = detail(services.rules.current.bundle, ruleset_id)
    if found is None:
        raise HTTPException(404, f"no ruleset {ruleset_id!r}")
    return found


@router.get("/facts", summary="The fact vocabulary (JSON Schema)", tags=["rulesets"])
def get_facts(services: Svc) -> dict[str, Any]:
    """The JSON Schema of a patient record: every fact's name, type, unit, range and zh/en
    labels. Integrators generate their mapping from it."""
    schema: dict[str, Any] = services.rules.current.bundle.vocabulary.json_schema()
    return schema
