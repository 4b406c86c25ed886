"""The project's own FHIR R4 fixtures, built in the shapes of the official examples
(../shared/interop): a BP panel with components, single-value Observations, Conditions, a
Patient, searchset Bundles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"


def when(hours_ago: float = 1.0) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours_ago)).isoformat(timespec="seconds")


def patient(pid: str = "example", birth: str = "1961-05-04", gender: str = "male") -> dict[
        str, Any]:
    return {"resourceType": "Patient", "id": pid, "gender": gender, "birthDate": birth}


def bp(sbp: float, dbp: float, pid: str = "example", oid: str = "bp1",
       hours_ago: float = 1.0) -> dict[str, Any]:
    """The R4 BP panel shape: values in components 8480-6 / 8462-4, mm[Hg]."""
    def component(code: str, display: str, value: float) -> dict[str, Any]:
        return {"code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
                "valueQuantity": {"value": value, "unit": "mmHg", "system": UCUM,
                                  "code": "mm[Hg]"}}
    return {"resourceType": "Observation", "id": oid, "status": "final",
            "category": [{"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                "code": "vital-signs"}]}],
            "code": {"coding": [{"system": LOINC, "code": "85354-9",
                                 "display": "Blood pressure panel"}]},
            "subject": {"reference": f"Patient/{pid}"},
            "effectiveDateTime": when(hours_ago),
            "component": [component("8480-6", "Systolic blood pressure", sbp),
                          component("8462-4", "Diastolic blood pressure", dbp)]}


def quantity(code: str, value: float, unit: str, ucum: str, pid: str = "example",
             oid: str = "obs", hours_ago: float = 1.0) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": oid, "status": "final",
            "code": {"coding": [{"system": LOINC, "code": code}]},
            "subject": {"reference": f"Patient/{pid}"}, "effectiveDateTime": when(hours_ago),
            "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": ucum}}


def condition(icd10: str, pid: str = "example", cid: str = "c1") -> dict[str, Any]:
    return {"resourceType": "Condition", "id": cid,
            "clinicalStatus": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                "code": "active"}]},
            "verificationStatus": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                "code": "confirmed"}]},
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": icd10}]},
            "subject": {"reference": f"Patient/{pid}"}}


def searchset(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
            "entry": [{"fullUrl": f"http://fhir.example/{r['resourceType']}/{r['id']}",
                       "resource": r} for r in resources]}
