"""HL7 CDS Hooks 2.0: discovery, the referral-advice services, and feedback."""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import partial
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import anyio
from fastapi import APIRouter, Depends, Header, HTTPException, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from referral_rules import FactsError

from ..cards import REFUSED, cards
from ..decide import decide_async, fact_problems, facts_message
from ..deps import ApiKey, Services, get_services, has_api_key
from ..fhir_map import FhirInputError, Mapping, map_resources
from ..jsonbody import StrictJsonRoute
from ..models import Instant, Problem, instant_issue
from ..not_used import EXTENSION, as_json, describe
from ..prefetch import check_id, gather, templates
from ..problems import ProblemError, problem
from ..store import feedback, now
from .api import store_refusal

__all__ = ["SERVICES", "router"]

router = APIRouter(prefix="/cds-services", tags=["CDS Hooks 2.0"],
                   route_class=StrictJsonRoute)
Svc = Annotated[Services, Depends(get_services)]

SERVICES: dict[str, dict[str, Any]] = {
    "referral-advice": {
        "hook": "patient-view",
        "title": "Referral advice 双向转诊建议",
        "description": "Advises transfer up or down in tiered care (分级诊疗) with urgency, "
                       "records to send and the guideline clauses; advice for the clinician.",
    },
    "referral-advice-order-sign": {
        "hook": "order-sign",
        "title": "Referral advice at order signing 签署医嘱时的转诊建议",
        "description": "The same referral advice when orders are signed.",
    },
}


def observation_codes(mapping: Mapping) -> list[str]:
    """The LOINC codes the mapping reads (values and panels), as FHIR search tokens."""
    keys = set(mapping.observations) | set(mapping.panels)
    return sorted(f"{system}|{code}" for system, code in keys if system == "http://loinc.org")


def prefetch_templates(mapping: Mapping) -> dict[str, str]:
    return templates(mapping)


_BP_PANEL = {
    "resourceType": "Observation", "id": "bp-1", "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
    "subject": {"reference": "Patient/1288992"}, "effectiveDateTime": "2026-11-22T09:30:00+08:00",
    "component": [
        {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
         "valueQuantity": {"value": 185, "unit": "mmHg", "system": "http://unitsofmeasure.org",
                           "code": "mm[Hg]"}},
        {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
         "valueQuantity": {"value": 112, "unit": "mmHg", "system": "http://unitsofmeasure.org",
                           "code": "mm[Hg]"}}]}
_EXAMPLE: dict[str, Any] = {
    "hook": "patient-view", "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
    "context": {"userId": "Practitioner/example", "patientId": "1288992"},
    "prefetch": {
        "patient": {"resourceType": "Patient", "id": "1288992", "gender": "male",
                    "birthDate": "1961-05-04"},
        "observations": {"resourceType": "Bundle", "type": "searchset",
                         "entry": [{"resource": _BP_PANEL}]},
        "conditions": None}}


class CdsRequest(BaseModel):
    """A CDS Hooks 2.0 service request (fields the service reads; others are allowed)."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [_EXAMPLE]})
    hook: str = Field(max_length=100)
    hookInstance: str = Field(max_length=100)
    fhirServer: str | None = Field(default=None, max_length=2000)
    fhirAuthorization: dict[str, Any] | None = None
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None


class Coding(BaseModel):
    model_config = ConfigDict(extra="allow")
    code: str = Field(max_length=200)
    system: str | None = Field(default=None, max_length=500)
    display: str | None = Field(default=None, max_length=500)


class OverrideReason(BaseModel):
    model_config = ConfigDict(extra="allow")
    reason: Coding | None = None
    userComment: str | None = Field(default=None, max_length=4000)


class SuggestionRef(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str = Field(max_length=200)


class FeedbackItem(BaseModel):
    model_config = ConfigDict(extra="allow")
    card: str = Field(max_length=200)
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[SuggestionRef] = Field(default_factory=list)
    overrideReason: OverrideReason | None = None
    outcomeTimestamp: Instant


class FeedbackBody(BaseModel):
    model_config = ConfigDict(extra="allow")
    feedback: list[FeedbackItem] = Field(min_length=1, max_length=100)


@router.get("", summary="CDS Hooks discovery")
def discovery(services: Svc) -> dict[str, Any]:
    """The referral-advice services (``patient-view`` and ``order-sign``) with prefetch
    templates for the Patient, the Observations and the Conditions the mapping reads."""
    templates = prefetch_templates(services.mapping)
    return {"services": [{"id": sid, **spec, "prefetch": templates,
                          "usageRequirements": "Send the Patient, the latest Observations and "
                          "the active Conditions, or a fhirServer the service may query."}
                         for sid, spec in SERVICES.items()]}


def _lang(accept_language: str | None) -> Literal["zh", "en"]:
    if not accept_language:
        return "zh"
    first = accept_language.split(",")[0].strip().lower()
    return "en" if first.startswith("en") else "zh"


@router.post("/{service_id}", summary="Call a referral-advice service",
             responses={400: {"model": Problem}, 401: {"model": Problem},
                        404: {"model": Problem},
                        412: {"model": Problem, "description": "Needed data neither "
                              "prefetched nor fetchable"},
                        413: {"model": Problem},
                        422: {"model": Problem, "description": "Malformed FHIR or facts"},
                        503: {"model": Problem, "description": "The audit could not be "
                              "stored"}})
async def call_service(service_id: Annotated[str, Path(max_length=100)], body: CdsRequest,
                       services: Svc, request: Request,
                       accept_language: Annotated[str | None, Header()] = None) -> JSONResponse:
    """Builds the patient's facts from ``context`` and ``prefetch`` (FHIR R4) with the
    mapping, evaluates them, and answers with a card: the advice, or, when nothing is advised
    but some FHIR data could not be used, an info card saying which and why (none when
    nothing is advised and everything was used). Data that was not prefetched is fetched only
    for calls with the API key, from an allowlisted ``fhirServer``."""
    spec = SERVICES.get(service_id)
    if spec is None:
        raise HTTPException(404, f"no CDS service {service_id!r}")
    if body.hook != spec["hook"]:
        raise HTTPException(400, f"service {service_id!r} answers the {spec['hook']!r} hook, "
                                 f"not {body.hook!r}")
    authenticated = await has_api_key(request)
    if services.settings.cds_require_auth and not authenticated:
        raise HTTPException(401, "missing or wrong API key", {"WWW-Authenticate": "ApiKey"})
    patient_id = check_id(body.context.get("patientId"), "body.context.patientId",
                          required=True)
    assert patient_id is not None
    encounter_id = check_id(body.context.get("encounterId"), "body.context.encounterId",
                            required=False)
    resources, notes = await gather(services, body, patient_id, encounter_id,
                                    authenticated=authenticated)
    mapper = partial(map_resources, services.mapping, resources,
                     now=datetime.now(ZoneInfo(services.settings.timezone)),
                     patient_id=patient_id, encounter_id=encounter_id)
    try:  # parsing FHIR is CPU work: off the event loop
        mapped = await anyio.to_thread.run_sync(mapper, limiter=services.cpu)
    except FhirInputError as exc:
        return problem(422, "invalid-fhir", "malformed FHIR resource(s)", exc.issues)
    facts: dict[str, Any] = {"care_level": services.settings.care_level, **mapped.facts}
    try:
        made = await decide_async(services, facts, None, f"cds:{service_id}", patient_id)
    except FactsError as exc:
        issues = fact_problems(exc, "facts")
        for issue in issues:
            issue["source"] = mapped.sources.get(str(issue["fact"]))
        return problem(422, "invalid-facts", facts_message(exc), issues)
    lang = _lang(accept_language)
    ignored = [*mapped.ignored, *notes]
    vocabulary = services.rules.current.bundle.vocabulary
    extension = {EXTENSION: as_json(ignored)} if ignored else None
    lines = describe(ignored, vocabulary, lang)
    if made.decision.direction == "stay" and not mapped.ignored:
        lines = []  # optional data not sent (the Encounter) alone does not make a card
    out = cards(made.decision, made.decision_id, patient_id, lang, lines, extension)
    return JSONResponse({"cards": out}, headers={"X-Decision-Id": made.decision_id})


@router.post("/{service_id}/feedback", summary="Feedback on cards", dependencies=[ApiKey],
             responses={401: {"model": Problem}, 403: {"model": Problem},
                        404: {"model": Problem}, 413: {"model": Problem},
                        400: {"model": Problem}, 422: {"model": Problem}})
def post_feedback(service_id: Annotated[str, Path(max_length=100)], body: FeedbackBody,
                  services: Svc) -> dict[str, Any]:
    """Stores each outcome (accepted / overridden). An override with the reason
    ``patient-refused`` creates a refusal record saying a signed refusal form is required.
    Every item is checked first (a card this service issued; a suggestion of that card; no
    refusal of advice that recommended no transfer); nothing is stored unless all are valid.
    Answered only after everything is stored."""
    if service_id not in SERVICES:
        raise HTTPException(404, f"no CDS service {service_id!r}")
    _check_feedback(services, service_id, body)
    refusal_records = []
    for item in body.feedback:
        reason = item.overrideReason.reason if item.overrideReason else None
        services.store.write(feedback, {
            "received_at": now(), "decision_id": item.card, "service": service_id,
            "outcome": item.outcome, "outcome_at": item.outcomeTimestamp,
            "accepted_suggestions": [s.id for s in item.acceptedSuggestions],
            "override_system": reason.system if reason else None,
            "override_code": reason.code if reason else None,
            "override_display": reason.display if reason else None,
            "user_comment": item.overrideReason.userComment if item.overrideReason else None})
        services.metrics.feedback.labels(item.outcome).inc()
        if item.outcome == "overridden" and reason is not None and reason.code == REFUSED:
            refusal_records.append(store_refusal(services, item.card, f"cds:{service_id}",
                                                 None))
    return {"stored": len(body.feedback), "refusals": refusal_records,
            "id": str(uuid.uuid4())}


def _check_feedback(services: Services, service_id: str, body: FeedbackBody) -> None:
    """404 for a card this service never issued, 422 for feedback that cannot be true of it."""
    unknown: list[dict[str, Any]] = []
    wrong: list[dict[str, Any]] = []
    for i, item in enumerate(body.feedback):
        where = f"body.feedback[{i}]"
        record = services.store.decision(item.card)
        if record is None or record["source"] != f"cds:{service_id}":
            unknown.append({"path": f"{where}.card", "code": "unknown-card",
                            "message": "no card with this uuid was issued by this service"})
            continue
        late = instant_issue(item.outcomeTimestamp, f"{where}.outcomeTimestamp")
        if late is not None:
            wrong.append(late)
        for j, suggestion in enumerate(item.acceptedSuggestions):
            if suggestion.id != f"{item.card}-referral":
                wrong.append({"path": f"{where}.acceptedSuggestions[{j}].id",
                              "code": "unknown-suggestion",
                              "message": "this card has no suggestion with this uuid"})
        reason = item.overrideReason.reason if item.overrideReason else None
        if reason is not None and reason.code == REFUSED and record["direction"] == "stay":
            wrong.append({"path": f"{where}.overrideReason.reason.code",
                          "code": "no-transfer-advised",
                          "message": "this card advised no transfer, so none can be refused"})
    if unknown:
        raise ProblemError(404, "not-found", "feedback on a card this service did not issue; "
                           "nothing was stored", unknown + wrong)
    if wrong:
        raise ProblemError(422, "invalid-feedback", "feedback that does not fit its card; "
                           "nothing was stored", wrong)
