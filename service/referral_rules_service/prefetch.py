"""What a CDS call needs from FHIR: the prefetch templates, and the data, prefetched or fetched.

A required key (Patient, Observations, Conditions) that was neither prefetched nor fetchable is a
412, as CDS Hooks 2.0 says. The service fetches only for a call authenticated with the API key,
only from a ``fhirServer`` on the allowlist, and only with FHIR ids that are valid FHIR ids.
The Encounter is optional: without it the visit type is missing and the card says why.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import anyio

from .deps import Services
from .fhir_fetch import FetchError
from .fhir_map import Ignored, Mapping
from .problems import ProblemError

__all__ = ["FHIR_ID", "REQUIRED", "check_id", "gather", "templates"]

#: FHIR R4 id (http://hl7.org/fhir/R4/datatypes.html#id)
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
REQUIRED = ("patient", "observations", "conditions")
_LOINC = "http://loinc.org"


def templates(mapping: Mapping) -> dict[str, str]:
    """The prefetch templates: the Patient, the Observations the mapping reads (values and
    panels), the active Conditions, and the hook's Encounter when the mapping reads it."""
    keys = set(mapping.observations) | set(mapping.panels)
    codes = ",".join(sorted(f"{system}|{code}" for system, code in keys if system == _LOINC))
    out = {
        "patient": "Patient/{{context.patientId}}",
        "observations": "Observation?patient={{context.patientId}}&code=" + codes
                        + "&_sort=-date&_count=500",
        "conditions": "Condition?patient={{context.patientId}}&clinical-status=active",
    }
    if mapping.encounter is not None:
        out["encounter"] = "Encounter/{{context.encounterId}}"
    return out


def check_id(value: object, path: str, *, required: bool) -> str | None:
    """A context id that is a FHIR id (it goes into URLs and references), else a 422."""
    if value is None and not required:
        return None
    if isinstance(value, str) and FHIR_ID.fullmatch(value):
        return value
    message = (f"{path.removeprefix('body.')} must be a FHIR id: 1 to 64 of A-Z a-z 0-9 - .")
    raise ProblemError(422, "invalid-request", message,
                       [{"path": path, "code": "invalid-fhir-id", "message": message}])


def _why_not_fetched(services: Services, server: str | None, authenticated: bool) -> str | None:
    if not server:
        return "there is no fhirServer to fetch it from"
    if not authenticated:
        return "the service fetches from a FHIR server only for calls that carry the API key"
    if not services.fetcher.allows(server):
        return "fhirServer is not a server this service is configured to query"
    return None


async def gather(services: Services, body: Any, patient_id: str, encounter_id: str | None,
                 *, authenticated: bool) -> tuple[dict[str, Any], list[Ignored]]:
    """The resources to map, by prefetch key, and notes on optional data not obtained."""
    prefetch: dict[str, Any] = body.prefetch or {}
    wanted = templates(services.mapping)
    out = {key: prefetch[key] for key in wanted if key in prefetch}  # null = no such data
    if encounter_id is None:
        wanted.pop("encounter", None)  # nothing to fetch it by
    missing = [key for key in wanted if key not in prefetch]
    notes: list[Ignored] = []
    if not missing:
        return out, notes
    required = [key for key in missing if key in REQUIRED]
    why = _why_not_fetched(services, body.fhirServer, authenticated)
    if why is not None:
        if required:
            raise ProblemError(412, "precondition-failed", "prefetch " + ", ".join(
                f"'{k}'" for k in required) + f" not sent, and {why}")
        return out, [_not_sent(services, key) for key in missing]
    token = (body.fhirAuthorization or {}).get("access_token")
    ids = {"{{context.patientId}}": quote(patient_id, safe=""),
           "{{context.encounterId}}": quote(encounter_id or "", safe="")}
    failed: list[str] = []

    async def one(key: str) -> None:
        query = wanted[key]
        for token_text, value in ids.items():
            query = query.replace(token_text, value)
        try:
            out[key] = await services.fetcher.get(body.fhirServer, query,
                                                  token if isinstance(token, str) else None)
        except FetchError:
            failed.append(key)

    async with anyio.create_task_group() as group:  # at most one GET per template, together
        for key in missing:
            group.start_soon(one, key)
    if any(key in REQUIRED for key in failed):
        keys = ", ".join(f"'{k}'" for k in missing if k in failed and k in REQUIRED)
        raise ProblemError(412, "precondition-failed",
                           f"prefetch {keys} not sent, and the FHIR server could not be queried")
    return out, [_not_sent(services, key) for key in failed]


def _not_sent(services: Services, key: str) -> Ignored:
    rule = services.mapping.encounter if key == "encounter" else None
    return Ignored(f"prefetch.{key}", "not-sent", None, f"prefetch.{key}",
                   rule.fact if rule else None)
