"""HL7 CDS Hooks 2.0: discovery, the referral-advice services, and feedback."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Header, HTTPException, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from referral_rules import FactsError

from ..cards import REFUSED, cards
from ..decide import decide, fact_problems
from ..deps import ApiKey, Services, get_services
from ..fhir_fetch import FetchError, fetch
from ..fhir_map import FhirInputError, Mapping, map_resources
from ..jsonbody import StrictJsonRoute
from ..models import Problem
from ..store import feedback, now
from .api import store_refusal

__all__ = ["SERVICES", "router"]

router = APIRouter(prefix="/cds-services", tags=["CDS Hooks 2.0"],
                   route_class=StrictJsonRoute)
Svc = Annotated[Services, Depends(get_services)]

PREFETCH_KEYS = ("patient", "observations", "conditions")
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


_LOINC = "http://loinc.org"


def observation_codes(mapping: Mapping) -> list[str]:
    """The LOINC codes the mapping reads (values and panels), as FHIR search tokens."""
    keys = set(mapping.observations) | set(mapping.panels)
    return sorted(f"{system}|{code}" for system, code in keys if system == _LOINC)


def prefetch_templates(mapping: Mapping) -> dict[str, str]:
    codes = ",".join(observation_codes(mapping))
    return {
        "patient": "Patient/{{context.patientId}}",
        "observations": "Observation?patient={{context.patientId}}&code=" + codes
                        + "&_sort=-date&_count=500",
        "conditions": "Condition?patient={{context.patientId}}&clinical-status=active",
    }


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
    outcomeTimestamp: str = Field(max_length=40)


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


def _gather(services: Services, body: CdsRequest, patient_id: str) -> dict[str, Any]:
    """The prefetched resources, fetching what is missing from the FHIR server (412 when it
    can be neither)."""
    prefetch = body.prefetch or {}
    templates = prefetch_templates(services.mapping)
    out: dict[str, Any] = {}
    missing = []
    for key in PREFETCH_KEYS:
        if key in prefetch:
            out[key] = prefetch[key]  # null = the client has no such data
            continue
        if not body.fhirServer:
            missing.append(key)
            continue
        query = templates[key].replace("{{context.patientId}}", patient_id)
        try:
            out[key] = fetch(body.fhirServer, query, body.fhirAuthorization,
                             services.settings.fhir_timeout)
        except FetchError as exc:
            raise HTTPException(412, f"prefetch '{key}' was not sent and the FHIR server "
                                     f"could not be queried: {exc}") from exc
    if missing:
        raise HTTPException(412, "prefetch " + ", ".join(f"'{k}'" for k in missing)
                            + " not sent and no fhirServer to fetch it from")
    return out


@router.post("/{service_id}", summary="Call a referral-advice service",
             responses={400: {"model": Problem}, 404: {"model": Problem},
                        412: {"model": Problem, "description": "Needed data neither "
                              "prefetched nor fetchable"},
                        413: {"model": Problem},
                        422: {"model": Problem, "description": "Malformed FHIR or facts"}})
def call_service(service_id: Annotated[str, Path(max_length=100)], body: CdsRequest,
                 services: Svc,
                 accept_language: Annotated[str | None, Header()] = None) -> JSONResponse:
    """Builds the patient's facts from ``context`` and ``prefetch`` (FHIR R4) with the
    mapping, evaluates them, and answers with a card (or none when nothing is advised)."""
    spec = SERVICES.get(service_id)
    if spec is None:
        raise HTTPException(404, f"no CDS service {service_id!r}")
    if body.hook != spec["hook"]:
        raise HTTPException(400, f"service {service_id!r} answers the {spec['hook']!r} hook, "
                                 f"not {body.hook!r}")
    patient_id = body.context.get("patientId")
    if not isinstance(patient_id, str) or not patient_id:
        raise HTTPException(400, "context.patientId is required for this hook")
    resources = _gather(services, body, patient_id)
    try:
        mapped = map_resources(services.mapping, resources,
                               now=datetime.now(ZoneInfo(services.settings.timezone)),
                               patient_id=patient_id)
    except FhirInputError as exc:
        return JSONResponse({"error": "invalid-fhir", "message": "malformed FHIR resource(s)",
                             "issues": exc.issues}, 422)
    facts: dict[str, Any] = {"care_level": services.settings.care_level, **mapped.facts}
    try:
        made = decide(services, facts, None, f"cds:{service_id}", patient_id)
    except FactsError as exc:
        issues = fact_problems(exc, "facts")
        for issue in issues:
            issue["source"] = mapped.sources.get(str(issue["fact"]))
        return JSONResponse({"error": "invalid-facts", "message": str(exc),
                             "issues": issues}, 422)
    lang = _lang(accept_language)
    not_used = Counter(i.reason for i in mapped.ignored)
    out = cards(made.decision, made.decision_id, patient_id, lang, dict(sorted(not_used.items())))
    return JSONResponse({"cards": out}, headers={"X-Decision-Id": made.decision_id})


@router.post("/{service_id}/feedback", summary="Feedback on cards", dependencies=[ApiKey],
             responses={401: {"model": Problem}, 403: {"model": Problem},
                        404: {"model": Problem}, 413: {"model": Problem},
                        400: {"model": Problem}, 422: {"model": Problem}})
def post_feedback(service_id: Annotated[str, Path(max_length=100)], body: FeedbackBody,
                  services: Svc) -> dict[str, Any]:
    """Stores each outcome (accepted / overridden). An override with the reason
    ``patient-refused`` creates a refusal record saying a signed refusal form is required.
    Answered only after everything is stored."""
    if service_id not in SERVICES:
        raise HTTPException(404, f"no CDS service {service_id!r}")
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
