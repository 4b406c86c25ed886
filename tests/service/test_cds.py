"""CDS Hooks 2.0 in-process: discovery, cards built from FHIR prefetch, 412, feedback."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from referral_rules import Bundle, Engine, load_rulesets
from referral_rules.synthetic import patients
from referral_rules_service.cards import OVERRIDE_SYSTEM, REFUSED, cards
from referral_rules_service.fhir_map import load_mapping, map_resources

from ..processes import free_port
from . import fhir_build as fhir
from .conftest import INTEROP, KEY, RULES

SPEC = INTEROP / "cds-hooks" / "spec-2.0"
CURRENT = INTEROP / "cds-hooks" / "spec-current-build"
needs_interop = pytest.mark.skipif(not SPEC.is_dir(), reason="../shared/interop not present")


def request_shape() -> dict[str, Any]:
    """The spec's own patient-view request when it is present, else the same shape."""
    path = SPEC / "request-patient-view.json"
    if path.is_file():
        return dict(json.loads(path.read_text(encoding="utf-8")))
    return {"hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
            "fhirServer": "http://hooks.smarthealthit.org:9080", "hook": "patient-view",
            "context": {"userId": "Practitioner/example", "patientId": "1288992",
                        "encounterId": "89284"},
            "prefetch": {}}


def build(prefetch: dict[str, Any], pid: str | None = None) -> dict[str, Any]:
    body = copy.deepcopy(request_shape())
    pid = pid or body["context"]["patientId"]
    body["context"]["patientId"] = pid
    body.pop("fhirServer", None)
    body.pop("fhirAuthorization", None)
    body["prefetch"] = prefetch
    return body


def hypertensive(pid: str, sbp: float = 185, dbp: float = 112) -> dict[str, Any]:
    return {"patient": fhir.patient(pid),
            "observations": fhir.searchset(fhir.bp(sbp, dbp, pid)),
            "conditions": fhir.searchset(fhir.condition("I10", pid))}


@pytest.fixture(scope="module")
def bundle() -> Bundle:
    return load_rulesets(RULES)


def expected(bundle: Bundle, prefetch: dict[str, Any], pid: str) -> Any:
    mapping = load_mapping(None, vocabulary=bundle.vocabulary)
    mapped = map_resources(mapping, prefetch, now=datetime.now(UTC), patient_id=pid)
    return Engine(bundle, "python").evaluate({"care_level": "primary", **mapped.facts})


def test_discovery(client: TestClient) -> None:
    services = client.get("/cds-services").json()["services"]
    assert {s["hook"] for s in services} == {"patient-view", "order-sign"}
    for s in services:
        assert {"id", "hook", "description", "prefetch"} <= set(s)  # REQUIRED by CDS Hooks 2.0
        assert set(s["prefetch"]) == {"patient", "observations", "conditions", "encounter"}
        assert s["prefetch"]["patient"] == "Patient/{{context.patientId}}"
        assert "http://loinc.org|8480-6" in s["prefetch"]["observations"]
        assert "http://loinc.org|85354-9" in s["prefetch"]["observations"]


@needs_interop
def test_discovery_has_the_fields_the_spec_example_has(client: TestClient) -> None:
    spec = json.loads((SPEC / "discovery-response.json").read_text(encoding="utf-8"))
    ours = client.get("/cds-services").json()
    required = {"hook", "id", "description"}
    for service in spec["services"]:
        assert required <= set(service)
    for service in ours["services"]:
        assert required <= set(service)
        assert set(service) <= {k for s in spec["services"] for k in s} | {"title"}


def test_card_matches_the_decision(client: TestClient, bundle: Bundle) -> None:
    prefetch = hypertensive("pat-1")
    r = client.post("/cds-services/referral-advice", json=build(prefetch, "pat-1"),
                    headers={"Accept-Language": "en"})
    assert r.status_code == 200, r.text
    (card,) = r.json()["cards"]
    decision = expected(bundle, prefetch, "pat-1")
    assert decision.direction == "up"
    assert card["uuid"] == r.headers["X-Decision-Id"]
    indicator = {"emergency": "critical", "urgent": "warning"}.get(decision.urgency or "", "info")
    if decision.possible_emergencies and indicator == "info":
        indicator = "warning"  # an emergency that cannot be ruled out is never just information
    assert card["indicator"] == indicator
    first = decision.fired[0].citations[0]
    assert card["source"]["label"] == f"{first.title} {first.clause}"
    assert card["source"].get("url") == first.url
    assert len(card["summary"]) < 140 and "transfer up" in card["summary"].lower()
    for rule in decision.fired:
        assert rule.id in card["detail"]
    for rec in decision.records:
        assert rec.title.en in card["detail"]
    (suggestion,) = card["suggestions"]
    (action,) = suggestion["actions"]
    resource = action["resource"]
    assert action["type"] == "create" and resource["resourceType"] == "ServiceRequest"
    assert resource["subject"] == {"reference": "Patient/pat-1"}
    assert resource["priority"] == {"emergency": "stat", "urgent": "urgent"}.get(
        decision.urgency or "", "routine")
    assert [c["text"] for c in resource["reasonCode"]] == [f.title.en for f in decision.fired]
    assert {"code": REFUSED, "system": OVERRIDE_SYSTEM} .items() <= card["overrideReasons"][
        0].items()
    zh = client.post("/cds-services/referral-advice", json=build(prefetch, "pat-1")).json()
    assert "上转" in zh["cards"][0]["summary"]


def test_fhir_data_not_used_is_counted_on_the_card(client: TestClient) -> None:
    prefetch = hypertensive("pat-8")
    old = fhir.bp(120, 70, "pat-8", oid="bp-old", hours_ago=24 * 40)  # outside the window
    prefetch["observations"]["entry"].append({"resource": old})
    r = client.post("/cds-services/referral-advice", json=build(prefetch, "pat-8"),
                    headers={"Accept-Language": "en"})
    (card,) = r.json()["cards"]
    assert "FHIR data not used" in card["detail"]
    assert "- Systolic blood pressure (LOINC 8480-6): older than 1 day(s)" in card[
        "detail"]
    assert "bp-old" not in card["detail"]  # the clinician is told what and why, not the id
    items = card["extension"]["org.referral-rules.fhir-not-used"]["items"]
    assert {"path": "prefetch.observations.entry[1].resource", "code": "http://loinc.org|8480-6",
            "fact": "sbp", "reason": "older-than-1-days"} in items


def test_no_card_when_nothing_is_advised(client: TestClient) -> None:
    prefetch = {"patient": fhir.patient("pat-2"),
                "observations": fhir.searchset(fhir.bp(124, 78, "pat-2")),
                "conditions": None}
    r = client.post("/cds-services/referral-advice", json=build(prefetch, "pat-2"))
    assert r.status_code == 200 and r.json() == {"cards": []}


def test_order_sign_service(client: TestClient) -> None:
    body = build(hypertensive("pat-3"), "pat-3")
    body["hook"] = "order-sign"
    body["context"]["draftOrders"] = {"resourceType": "Bundle", "entry": []}
    r = client.post("/cds-services/referral-advice-order-sign", json=body)
    assert r.status_code == 200 and len(r.json()["cards"]) == 1
    assert client.post("/cds-services/referral-advice", json=body).status_code == 400
    assert client.post("/cds-services/nope", json=body).status_code == 404


def test_412_when_data_is_neither_prefetched_nor_fetchable(client: TestClient) -> None:
    body = build({"patient": fhir.patient("pat-4")}, "pat-4")
    r = client.post("/cds-services/referral-advice", json=body)
    assert r.status_code == 412
    assert "observations" in r.json()["message"]
    body["fhirServer"] = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    assert client.post("/cds-services/referral-advice", json=body).status_code == 412


def test_malformed_fhir_is_422_with_a_path(client: TestClient) -> None:
    obs = fhir.bp(185, 112, "pat-6")
    obs["component"][0]["valueQuantity"]["value"] = "high"
    prefetch = {"patient": fhir.patient("pat-6"), "observations": fhir.searchset(obs),
                "conditions": None}
    r = client.post("/cds-services/referral-advice", json=build(prefetch, "pat-6"))
    assert r.status_code == 422, r.text
    paths = [i["path"] for i in r.json()["issues"]]
    assert any(p.startswith("prefetch.observations.entry[0]") for p in paths), paths


@pytest.mark.parametrize("body", [{}, {"hook": "patient-view"},
                                  {"hook": "patient-view", "hookInstance": "x", "context": {}},
                                  {"hook": "patient-view", "hookInstance": "x",
                                   "context": {"patientId": 5}}])
def test_bad_requests_are_4xx(client: TestClient, body: dict[str, Any]) -> None:
    assert client.post("/cds-services/referral-advice", json=body).status_code in (400, 422)


def test_feedback_stores_outcomes_and_refusals(client: TestClient) -> None:
    r = client.post("/cds-services/referral-advice", json=build(hypertensive("pat-7"), "pat-7"))
    card = r.json()["cards"][0]
    refused = {"feedback": [{"card": card["uuid"], "outcome": "overridden",
                             "overrideReason": {"reason": {"code": REFUSED,
                                                           "system": OVERRIDE_SYSTEM},
                                                "userComment": "family wants care here"},
                             "outcomeTimestamp": "2026-11-22T10:30:00+08:00"}]}
    url = "/cds-services/referral-advice/feedback"
    assert client.post(url, json=refused).status_code == 401
    r = client.post(url, json=refused, headers={"Authorization": f"Bearer {KEY}"})
    assert r.status_code == 200, r.text
    assert r.json()["refusals"][0]["status"] == "signature_required"
    accepted = {"feedback": [{"card": card["uuid"], "outcome": "accepted",
                              "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}],
                              "outcomeTimestamp": "2026-11-22T10:31:00+08:00"}]}
    assert client.post(url, json=accepted, headers={"X-API-Key": KEY}).json()["refusals"] == []
    record = client.get(f"/v1/decisions/{card['uuid']}", headers={"X-API-Key": KEY}).json()
    assert [f["outcome"] for f in record["feedback"]] == ["overridden", "accepted"]
    assert record["feedback"][0]["override_code"] == REFUSED
    assert record["feedback"][1]["accepted_suggestions"] == [card["suggestions"][0]["uuid"]]
    assert [x["status"] for x in record["refusals"]] == ["signature_required"]


@needs_interop
@pytest.mark.parametrize("name", ["feedback-accepted.json", "feedback-overridden-no-reason.json",
                                  "feedback-overridden-with-reason.json"])
def test_the_spec_feedback_examples_are_stored(client: TestClient, name: str) -> None:
    raw = (CURRENT / name).read_text(encoding="utf-8")  # starts with a newline: allowed
    r = client.post("/cds-services/referral-advice/feedback", content=raw,
                    headers={"X-API-Key": KEY, "Content-Type": "application/json"})
    assert r.status_code == 404  # the spec's card uuids were never issued here
    # the same bodies about a card this service did issue (the fix is made here, in the test:
    # the card and suggestion uuids are ours, everything else is the spec's bytes)
    card = client.post("/cds-services/referral-advice",
                       json=build(hypertensive("pat-9"), "pat-9")).json()["cards"][0]
    spec = json.loads(raw)
    for item in spec["feedback"]:
        raw = raw.replace(item["card"], card["uuid"])
        for accepted in item.get("acceptedSuggestions", []):
            raw = raw.replace(accepted["id"], card["suggestions"][0]["uuid"])
    r = client.post("/cds-services/referral-advice/feedback", content=raw,
                    headers={"X-API-Key": KEY, "Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    assert r.json()["stored"] == len(spec["feedback"])


def test_summaries_stay_under_140_characters(bundle: Bundle) -> None:
    engine = Engine(bundle, "python")
    seen = 0
    for record in patients(bundle, 3000, seed=11):
        decision = engine.evaluate(record)
        for lang in ("zh", "en"):
            for card in cards(decision, "id", "p", lang):
                seen += 1
                assert len(card["summary"]) < 140
                assert card["indicator"] in ("critical", "warning", "info")
    assert seen > 500



# --- issue 11 item 4: data dropped never looks like "no advice"; item 5: the visit type ------

def _kpa_panel(pid: str) -> dict[str, Any]:
    panel = fhir.bp(24.7, 14.9, pid)  # 185/112 mmHg, in kPa
    for part in panel["component"]:
        part["valueQuantity"].update(unit="kPa", code="kPa")
    return panel


def test_a_bp_panel_in_kpa_gives_the_card_of_the_same_bp_in_mmhg(client: TestClient) -> None:
    kpa = {"patient": fhir.patient("pat-k"), "conditions": fhir.searchset(
        fhir.condition("I10", "pat-k")), "observations": fhir.searchset(_kpa_panel("pat-k"))}
    mmhg = {**kpa, "observations": fhir.searchset(fhir.bp(185, 112, "pat-k"))}
    answers = [client.post("/cds-services/referral-advice", json=build(p, "pat-k"),
                           headers={"Accept-Language": "en"}).json()["cards"]
               for p in (kpa, mmhg)]
    assert len(answers[0]) == 1
    assert [(c["summary"], c["indicator"]) for c in answers[0]] == [
        (c["summary"], c["indicator"]) for c in answers[1]]
    assert "LOINC 84" not in answers[0][0]["detail"]  # no BP reading was left out


@pytest.mark.parametrize(("reading", "said"), [
    (fhir.bp(185, 112, "pat-f", hours_ago=-48), "dated in the future"),
    (fhir.bp(185, 112, "someone-else"), "about another patient"),
    (_kpa_panel("pat-f") | {"component": [
        {**c, "valueQuantity": {**c["valueQuantity"], "unit": "cmHg", "code": "cm[Hg]"}}
        for c in _kpa_panel("pat-f")["component"]]}, "unit not convertible"),
])
def test_dropped_data_is_an_info_card_never_an_empty_answer(client: TestClient,
                                                            reading: dict[str, Any],
                                                            said: str) -> None:
    prefetch = {"patient": fhir.patient("pat-f"), "observations": fhir.searchset(reading),
                "conditions": fhir.searchset(fhir.condition("I10", "pat-f"))}
    r = client.post("/cds-services/referral-advice", json=build(prefetch, "pat-f"),
                    headers={"Accept-Language": "en"})
    assert r.status_code == 200, r.text
    (card,) = r.json()["cards"]
    # a hypertensive patient whose BP was dropped: the hypertension emergencies stay open
    assert card["indicator"] == "warning" and card["uuid"] == r.headers["X-Decision-Id"]
    assert card["summary"].startswith("Possible emergency")
    assert "some FHIR data were not used" in card["summary"] and len(card["summary"]) < 140
    assert said in card["detail"] and "(LOINC 8" in card["detail"]  # the panel or a part
    items = card["extension"]["org.referral-rules.fhir-not-used"]["items"]
    assert {i["path"] for i in items} == {"prefetch.observations.entry[0].resource",
                                          "prefetch.encounter"}  # the spec request's encounter
    assert "someone-else" not in json.dumps(card)  # another patient's id is never echoed
    zh = client.post("/cds-services/referral-advice", json=build(prefetch, "pat-f")).json()
    assert "未被采用" in zh["cards"][0]["summary"]


def test_encounter_prefetch_template_is_offered(client: TestClient) -> None:
    for service in client.get("/cds-services").json()["services"]:
        assert service["prefetch"]["encounter"] == "Encounter/{{context.encounterId}}"


def _encounter(pid: str, eid: str, klass: str) -> dict[str, Any]:
    return {"resourceType": "Encounter", "id": eid, "status": "in-progress",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                      "code": klass}, "subject": {"reference": f"Patient/{pid}"}}


def test_visit_type_comes_from_the_hook_encounter(client: TestClient, bundle: Bundle) -> None:
    prefetch = hypertensive("pat-e")
    prefetch["encounter"] = _encounter("pat-e", "enc-1", "IMP")
    body = build(prefetch, "pat-e")
    body["context"]["encounterId"] = "enc-1"
    r = client.post("/cds-services/referral-advice", json=body, headers={"X-API-Key": KEY})
    assert r.status_code == 200, r.text
    record = client.get(f"/v1/decisions/{r.headers['X-Decision-Id']}",
                        headers={"X-API-Key": KEY}).json()
    mapping = load_mapping(None, vocabulary=bundle.vocabulary)
    mapped = map_resources(mapping, prefetch, now=datetime.now(UTC), patient_id="pat-e",
                           encounter_id="enc-1")
    assert mapped.facts["visit_type"] == "inpatient"
    decision = Engine(bundle, "python").evaluate({"care_level": "primary", **mapped.facts})
    assert (record["direction"], record["urgency"]) == (decision.direction, decision.urgency)
    assert record["fired"] == list(decision.fired_ids)


def test_an_ambulatory_encounter_leaves_the_visit_type_missing_and_says_why(
        client: TestClient) -> None:
    prefetch = hypertensive("pat-a")
    prefetch["encounter"] = _encounter("pat-a", "enc-2", "AMB")
    body = build(prefetch, "pat-a")
    body["context"]["encounterId"] = "enc-2"
    (card,) = client.post("/cds-services/referral-advice", json=body,
                          headers={"Accept-Language": "en"}).json()["cards"]
    assert "Type of this encounter" in card["detail"]  # listed as missing …
    assert "do not tell the visit type" in card["detail"]  # … and why


def test_an_encounter_not_sent_and_not_fetchable_is_said_not_412(client: TestClient) -> None:
    body = build(hypertensive("pat-n"), "pat-n")
    body["context"]["encounterId"] = "enc-3"
    r = client.post("/cds-services/referral-advice", json=body,
                    headers={"Accept-Language": "en"})
    assert r.status_code == 200, r.text
    (card,) = r.json()["cards"]
    assert "not sent, and not fetched" in card["detail"]
    body["context"]["encounterId"] = "../x"
    assert client.post("/cds-services/referral-advice", json=body).status_code == 422


# --- issue 11 item 10: feedback must be about a real card and a real time ------------------

def _feedback(card: str, **item: Any) -> dict[str, Any]:
    return {"feedback": [{"card": card, "outcome": "overridden",
                          "outcomeTimestamp": "2026-11-22T10:30:00+08:00", **item}]}


_REFUSED = {"overrideReason": {"reason": {"code": REFUSED, "system": OVERRIDE_SYSTEM}}}
_FEEDBACK = "/cds-services/referral-advice/feedback"


def test_feedback_on_a_card_never_issued_is_404_and_stores_nothing(client: TestClient) -> None:
    r = client.post(_FEEDBACK, json=_feedback("no-such-card", **_REFUSED),
                    headers={"X-API-Key": KEY})
    assert r.status_code == 404
    assert r.json()["issues"][0] == {"path": "body.feedback[0].card", "code": "unknown-card",
                                     "message": "no card with this uuid was issued by this "
                                                "service"}
    assert client.get("/v1/decisions/no-such-card", headers={"X-API-Key": KEY}
                      ).status_code == 404
    # a card of the other service is not a card of this one
    body = build(hypertensive("pat-o"), "pat-o")
    body["hook"] = "order-sign"
    card = client.post("/cds-services/referral-advice-order-sign", json=body).json()["cards"][0]
    r = client.post(_FEEDBACK, json=_feedback(card["uuid"]), headers={"X-API-Key": KEY})
    assert r.status_code == 404


@pytest.mark.parametrize(("item", "code"), [
    ({"outcomeTimestamp": "not-a-date"}, "invalid-date-time"),
    ({"outcomeTimestamp": "2026-11-22T10:30:00"}, "invalid-date-time"),  # no offset
    ({"outcomeTimestamp": "2999-11-22T10:30:00Z"}, "invalid-date-time"),  # in the future
    ({"outcome": "accepted", "acceptedSuggestions": [{"id": "not-ours"}]},
     "unknown-suggestion"),
])
def test_feedback_that_cannot_be_true_is_422_and_stores_nothing(
        client: TestClient, item: dict[str, Any], code: str) -> None:
    card = client.post("/cds-services/referral-advice",
                       json=build(hypertensive("pat-t"), "pat-t")).json()["cards"][0]
    r = client.post(_FEEDBACK, json=_feedback(card["uuid"], **item), headers={"X-API-Key": KEY})
    assert r.status_code == 422, r.text
    assert r.json()["issues"][0]["code"] == code
    record = client.get(f"/v1/decisions/{card['uuid']}", headers={"X-API-Key": KEY}).json()
    assert record["feedback"] == []


def test_refusing_an_info_card_is_422(client: TestClient) -> None:
    prefetch = {"patient": fhir.patient("pat-i"), "conditions": None,
                "observations": fhir.searchset(fhir.bp(120, 70, "pat-i", hours_ago=-48))}
    (card,) = client.post("/cds-services/referral-advice",
                          json=build(prefetch, "pat-i")).json()["cards"]
    assert card["indicator"] == "info"  # nothing advised; a reading in the future not used
    r = client.post(_FEEDBACK, json=_feedback(card["uuid"], **_REFUSED),
                    headers={"X-API-Key": KEY})
    assert r.status_code == 422
    assert r.json()["issues"][0]["code"] == "no-transfer-advised"
    record = client.get(f"/v1/decisions/{card['uuid']}", headers={"X-API-Key": KEY}).json()
    assert record["refusals"] == [] and record["feedback"] == []


def test_an_open_emergency_is_a_warning_card_even_when_nothing_is_advised(
        client: TestClient) -> None:
    """Issue 10 item 4: a hypertensive patient with a normal reading and nothing else recorded:
    no transfer, but the hypertension emergencies cannot be ruled out — a card, at least
    warning, the possible emergencies first, no referral suggestion."""
    prefetch = hypertensive("pat-w", 132, 84)
    r = client.post("/cds-services/referral-advice", json=build(prefetch, "pat-w"),
                    headers={"Accept-Language": "en"})
    (card,) = r.json()["cards"]
    assert card["indicator"] == "warning"
    assert card["summary"].startswith("Possible emergency, check:") and len(card["summary"]) < 140
    assert card["detail"].startswith("⚠️ **Possible emergency")
    assert "HTN-E1-CONSCIOUSNESS" in card["detail"].split("**", 3)[2]  # inside the first block
    assert "suggestions" not in card and "selectionBehavior" not in card
    zh = client.post("/cds-services/referral-advice", json=build(prefetch, "pat-w")).json()
    assert zh["cards"][0]["summary"].startswith("可能的急危重症")


def test_card_detail_renders_the_presentation_model(bundle: Bundle) -> None:
    """One presentation model (issue 12): every section explain prints is in the card, in the
    same order, with the same titles; a long checklist is cut with "and N more"."""
    from referral_rules.present import present

    engine = Engine(bundle, "python")
    decision = engine.evaluate({
        "care_level": "secondary", "visit_type": "inpatient", "known_diabetes": True,
        "dm_diagnosis_established": True, "dm_treatment_plan_set": True,
        "dm_glucose_stable": True, "dm_complications_stable": True, "blood_glucose": 7.8,
        "hba1c_mmol_mol": 50, "sex": "male"})
    assert decision.direction == "down" and len(decision.confirm_before_transfer) > 12
    (card,) = cards(decision, "d-1", None, "en")
    text = card["detail"]
    titles = [s.title for s in present(decision, "en").sections if s.key != "notes"]
    positions = [text.index(f"**{t}**") for t in titles]
    assert positions == sorted(positions)
    assert f"(and {len(decision.confirm_before_transfer) - 12} more)" in text
    assert "Worked out from recorded facts" in text and "hba1c" in text
    assert "consortium's partner institution" in text
    assert card["summary"].startswith("Transfer down to primary care advised (")
    assert card["indicator"] == "warning"  # open emergencies (DM-E1 …) are listed first
    assert text.index("Possible emergency") < text.index("Confirm before transfer")

