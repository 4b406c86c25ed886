"""The REST API in-process: decisions, audit, feedback, rulesets, facts, probes, limits."""

from __future__ import annotations

import json
import logging
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from referral_rules import Engine, load_rulesets

from .conftest import HTN_URGENT, KEY, RULES, STABLE, make_client


def test_decision_is_the_library_json_plus_its_audit_id(client: TestClient) -> None:
    r = client.post("/v1/decisions", json={"facts": HTN_URGENT})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["direction"] == "up" and body["urgency"] == "urgent"
    assert r.headers["X-Decision-Id"] == body["decision_id"]
    engine = Engine(load_rulesets(RULES), "python")
    expected = engine.evaluate(HTN_URGENT).to_json()
    prefix = '{"decision_id":' + json.dumps(body["decision_id"]) + ","
    assert r.text == prefix + expected[1:]  # byte-identical to the library's JSON


def test_same_facts_same_bytes_apart_from_the_id(client: TestClient) -> None:
    a = client.post("/v1/decisions", json={"facts": HTN_URGENT}).json()
    b = client.post("/v1/decisions", json={"facts": HTN_URGENT}).json()
    assert a.pop("decision_id") != b.pop("decision_id")
    assert a == b


def test_explanation_in_the_asked_language(client: TestClient) -> None:
    zh = client.post("/v1/decisions", json={"facts": HTN_URGENT, "lang": "zh"}).json()
    en = client.post("/v1/decisions", json={"facts": HTN_URGENT, "lang": "en"}).json()
    assert "转" in zh["explanation"] and "transfer" in en["explanation"].lower()
    assert "explanation" not in client.post("/v1/decisions", json={"facts": STABLE}).json()


def test_declined_transfer_requires_a_signed_refusal_now(client: TestClient) -> None:
    body = client.post("/v1/decisions",
                       json={"facts": HTN_URGENT, "accepts_transfer": "no"}).json()
    assert body["refusal"]["status"] == "required_now"
    assert body["refusal"]["transfer_proceeds"] is False


@pytest.mark.parametrize(("payload", "path", "code"), [
    ({"facts": {"care_level": "primary", "sbp": "90"}}, "body.facts.sbp", None),
    ({"facts": {"care_level": "primary", "sbp": 900}}, "body.facts.sbp", None),
    ({"facts": {"care_level": "primary", "sbpp": 150}}, "body.facts.sbpp", None),
    ({"facts": {"sbp": 150}}, "body.facts.care_level", None),
    ({"facts": HTN_URGENT, "conditions": ["hypertensoin"]}, "body.conditions",
     "unknown-condition"),
    ({"facts": {**HTN_URGENT, "accepts_transfer": "yes"}, "accepts_transfer": "no"},
     "body.accepts_transfer", "conflict"),
])
def test_bad_facts_are_422_with_the_field_path(client: TestClient, payload: dict[str, object],
                                               path: str, code: str | None) -> None:
    r = client.post("/v1/decisions", json=payload)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "invalid-facts"
    assert path in [i["path"] for i in body["issues"]]
    if code:
        assert body["issues"][0]["code"] == code


def test_unknown_fact_gets_a_suggestion(client: TestClient) -> None:
    issue = client.post("/v1/decisions", json={"facts": {"care_level": "primary",
                                                         "sbpp": 150}}).json()["issues"][0]
    assert "sbp" in (issue["suggestion"] or "")


@pytest.mark.parametrize("body", [b"", b"{", b"[]", b'{"facts": 3}', b'{"facts": {}, "x": 1}',
                                  b'{"facts": {}, "lang": "fr"}', "{\"facts\": {\"\ud800\"".encode(
                                      "utf-8", "surrogatepass")])
def test_malformed_bodies_are_422_not_500(client: TestClient, body: bytes) -> None:
    r = client.post("/v1/decisions", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["error"] in ("invalid-request", "invalid-facts")


def test_body_size_limit(tmp_path: Path) -> None:
    with make_client(tmp_path, max_body_bytes=2048) as c:
        big = {"facts": {"care_level": "primary"}, "patient_id": "x" * 150,
               "conditions": ["hypertension"] * 30, "lang": "zh" }
        r = c.post("/v1/decisions", content=json.dumps(big) + " " * 4000,
                   headers={"Content-Type": "application/json"})
        assert r.status_code == 413
        assert r.json()["error"] == "request-too-large"
        # streamed without a declared length: counted as it arrives
        r = c.post("/v1/decisions", content=iter([b"{" + b" " * 1500, b" " * 1500 + b"}"]),
                   headers={"Content-Type": "application/json"})
        assert r.status_code == 413


def test_audit_record_has_versions_and_only_a_keyed_hash(client: TestClient,
                                                          auth: dict[str, str]) -> None:
    made = client.post("/v1/decisions", json={"facts": HTN_URGENT,
                                              "patient_id": "MRN-9911"}).json()
    assert client.get(f"/v1/decisions/{made['decision_id']}").status_code == 401
    record = client.get(f"/v1/decisions/{made['decision_id']}", headers=auth).json()
    assert record["direction"] == "up" and record["urgency"] == "urgent"
    assert record["fired"] == [f["id"] for f in made["fired"]]
    assert record["rulesets"] == made["rulesets"]
    assert record["patient_ref"] and len(record["patient_ref"]) == 64
    assert "MRN-9911" not in json.dumps(record)
    assert client.get("/v1/decisions/nope", headers=auth).status_code == 404


def test_feedback_declined_creates_refusal_records(client: TestClient,
                                                   auth: dict[str, str]) -> None:
    did = client.post("/v1/decisions", json={"facts": HTN_URGENT}).json()["decision_id"]
    r = client.post("/v1/feedback", json={"decision_id": did, "outcome": "declined"})
    assert r.status_code == 401
    r = client.post("/v1/feedback", headers=auth,
                    json={"decision_id": did, "outcome": "declined"})
    assert r.status_code == 201, r.text
    assert r.json()["refusal"]["status"] == "signature_required"
    signed = {"reason": "家属要求留院", "signer": "张某", "signer_relation": "spouse",
              "signed_at": datetime.now(UTC).isoformat()}
    r = client.post("/v1/feedback", headers=auth,
                    json={"decision_id": did, "outcome": "declined", "refusal": signed})
    assert r.json()["refusal"]["status"] == "signed"
    record = client.get(f"/v1/decisions/{did}", headers=auth).json()
    assert [f["outcome"] for f in record["feedback"]] == ["declined", "declined"]
    assert sorted(x["status"] for x in record["refusals"]) == ["signature_required", "signed"]
    assert client.post("/v1/feedback", headers=auth, json={
        "decision_id": "no-such", "outcome": "accepted"}).status_code == 404


@pytest.mark.parametrize(("signed_at", "code"), [
    ("aaaaaaaaaa", "invalid-date-time"),
    ("2026-11-22", "invalid-date-time"),  # a date, not a date-time
    ("2026-11-22T10:30:00", "invalid-date-time"),  # no UTC offset
    ("2999-01-01T00:00:00+08:00", "invalid-date-time"),  # in the future
    ("2020-01-01T00:00:00+08:00", "signed-before-decision"),
])
def test_signed_refusal_needs_a_real_past_date_time(client: TestClient, auth: dict[str, str],
                                                    signed_at: str, code: str) -> None:
    did = client.post("/v1/decisions", json={"facts": HTN_URGENT}).json()["decision_id"]
    refusal = {"reason": "家属要求留院", "signer": "张某", "signer_relation": "spouse",
               "signed_at": signed_at}
    r = client.post("/v1/feedback", headers=auth,
                    json={"decision_id": did, "outcome": "declined", "refusal": refusal})
    assert r.status_code == 422, r.text
    (issue,) = r.json()["issues"]
    assert issue["code"] == code and issue["path"].endswith("signed_at")
    record = client.get(f"/v1/decisions/{did}", headers=auth).json()
    assert record["feedback"] == [] and record["refusals"] == []  # nothing was recorded


def test_a_signed_refusal_a_minute_ago_in_another_zone_is_recorded(
        client: TestClient, auth: dict[str, str]) -> None:
    did = client.post("/v1/decisions", json={"facts": HTN_URGENT}).json()["decision_id"]
    when = (datetime.now(UTC) + timedelta(minutes=1)).astimezone().isoformat()
    refusal = {"reason": "r", "signer": "s", "signer_relation": "self", "signed_at": when}
    r = client.post("/v1/feedback", headers=auth,
                    json={"decision_id": did, "outcome": "declined", "refusal": refusal})
    assert r.status_code == 201, r.text
    assert r.json()["refusal"]["status"] == "signed"


def test_declining_a_stay_is_422(client: TestClient, auth: dict[str, str]) -> None:
    made = client.post("/v1/decisions", json={"facts": STABLE}).json()
    assert made["direction"] == "stay"
    r = client.post("/v1/feedback", headers=auth,
                    json={"decision_id": made["decision_id"], "outcome": "declined"})
    assert r.status_code == 422
    assert r.json()["issues"][0]["code"] == "no-transfer-advised"
    r = client.post("/v1/feedback", headers=auth,
                    json={"decision_id": made["decision_id"], "outcome": "accepted",
                          "refusal": {"reason": "r", "signer": "s", "signer_relation": "self",
                                      "signed_at": datetime.now(UTC).isoformat()}})
    assert r.status_code == 422
    assert r.json()["issues"][0]["code"] == "refusal-without-decline"
    r = client.post("/v1/feedback", headers=auth,
                    json={"decision_id": made["decision_id"], "outcome": "accepted"})
    assert r.status_code == 201
    record = client.get(f"/v1/decisions/{made['decision_id']}", headers=auth).json()
    assert [f["outcome"] for f in record["feedback"]] == ["accepted"]
    assert record["refusals"] == []


def test_rulesets_and_facts(client: TestClient) -> None:
    bundle = load_rulesets(RULES)
    listed = client.get("/v1/rulesets").json()
    assert {r["id"]: r["sha256"] for r in listed} == {
        k: v.sha256 for k, v in bundle.rulesets.items()}
    one = client.get("/v1/rulesets/hypertension").json()
    assert len(one["items"]) == len(bundle.rulesets["hypertension"].rules)
    assert all(item["citations"] for item in one["items"])
    assert {s["id"] for s in one["sources"]} >= {"S1"}
    assert client.get("/v1/rulesets/hypertensoin").status_code == 404
    facts = client.get("/v1/facts").json()
    assert "sbp" in facts["properties"]


def test_probes_and_metrics(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["database"] is True and ready["backend"] == "durable"
    client.post("/v1/decisions", json={"facts": HTN_URGENT})
    text = client.get("/metrics").text
    assert 'referral_decisions_total{direction="up",source="api",urgency="urgent"}' in text
    assert 'referral_requests_total{method="POST",route="/v1/decisions",status="200"}' in text
    assert "referral_request_seconds_bucket" in text
    # a path with an id is counted by its template, never by the raw path
    assert "/v1/decisions/{decision_id}" in text or "decisions/" not in text.split(
        "referral_requests_total")[-1]


def test_cors_preflight(client: TestClient) -> None:
    r = client.options("/v1/decisions", headers={
        "Origin": "https://ehr.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert r.headers["access-control-allow-origin"] == "https://ehr.example"
    r = client.options("/v1/decisions", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in r.headers


def test_admin_needs_a_configured_key(tmp_path: Path) -> None:
    with make_client(tmp_path, api_key=None) as c:
        assert c.post("/v1/admin/reload").status_code == 403
    with make_client(tmp_path) as c:
        assert c.post("/v1/admin/reload", headers={"X-API-Key": "wrong"}).status_code == 401
        ok = c.post("/v1/admin/reload", headers={"Authorization": f"Bearer {KEY}"})
        assert ok.status_code == 200 and ok.json()["generation"] == 2


def test_reload_rejects_a_broken_ruleset_and_keeps_serving(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    with make_client(tmp_path, rules=str(rules)) as c:
        path = rules / "hypertension.yaml"
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace("title: {zh: 高血压", "titel: {zh: 高血压", 1),
                        encoding="utf-8")
        r = c.post("/v1/admin/reload", headers={"X-API-Key": KEY})
        assert r.status_code == 409
        issues = r.json()["issues"]
        assert f"{path}:28:1: titel: unknown key 'titel' (did you mean 'title'?) [schema]" in [
            i["text"] for i in issues]
        assert all(i["line"] > 0 and i["column"] > 0 for i in issues)
        assert c.post("/v1/decisions", json={"facts": HTN_URGENT}).json()["direction"] == "up"
        path.write_text(re.sub(r'^version: "[^"]*"', 'version: "9.0.0"', text, count=1,
                               flags=re.M), encoding="utf-8")
        r = c.post("/v1/admin/reload", headers={"X-API-Key": KEY})
        assert r.status_code == 200, r.text
        versions = {x["id"]: x["version"] for x in r.json()["rulesets"]}
        assert versions["hypertension"].startswith("9.")
        made = c.post("/v1/decisions", json={"facts": HTN_URGENT}).json()
        assert {x["id"]: x["version"] for x in made["rulesets"]}["hypertension"] == versions[
            "hypertension"]
        assert 'referral_reloads_total{result="rejected"} 1.0' in c.get("/metrics").text


def test_no_patient_identifier_in_logs(client: TestClient, auth: dict[str, str],
                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "PATIENT-SECRET-4711"
    client.post("/v1/decisions", json={"facts": {**HTN_URGENT, "sbp": "bad"},
                                       "patient_id": secret})
    client.post("/v1/decisions", json={"facts": HTN_URGENT, "patient_id": secret})
    assert secret not in caplog.text


def test_openapi_is_complete(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in ("/v1/decisions", "/v1/decisions/{decision_id}", "/v1/feedback",
                 "/v1/rulesets", "/v1/rulesets/{ruleset_id}", "/v1/facts", "/healthz",
                 "/readyz", "/metrics", "/v1/admin/reload", "/cds-services",
                 "/cds-services/{service_id}", "/cds-services/{service_id}/feedback"):
        assert path in paths, path
        for op in paths[path].values():
            assert op.get("summary"), path
    decision = paths["/v1/decisions"]["post"]
    assert decision["responses"]["200"]["content"]["application/json"]["schema"]
    assert set(decision["responses"]) >= {"200", "422", "503"}
    schemas = spec["components"]["schemas"]
    assert schemas["DecisionRequest"]["examples"][0]["facts"]["sbp"] == 185
    assert "refusal" in schemas["DecisionResponse"]["properties"]


def test_serve_refuses_broken_rulesets_with_their_positions(tmp_path: Path) -> None:
    import io

    from referral_rules.cli import main

    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    path = rules / "diabetes.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("id: diabetes", "idd: diabetes", 1),
                    encoding="utf-8")
    err = io.StringIO()
    code = main(["serve", "--rules", str(rules), "--port", "1"], stdout=io.StringIO(),
                stderr=err)
    assert code == 1
    assert f"{path}:" in err.getvalue() and "did you mean 'id'?" in err.getvalue()
    assert "not serving" in err.getvalue()


def test_check_reports_a_broken_fhir_mapping(tmp_path: Path) -> None:
    import io

    from referral_rules.cli import main

    bundled = Path(__file__).resolve().parents[2] / "service" / "referral_rules_service"
    text = (bundled / "fhir_mapping.yaml").read_text(encoding="utf-8")
    broken = tmp_path / "mapping.yaml"
    broken.write_text(text.replace("\n  heart_rate:", "\n  heart_ratte:", 1), encoding="utf-8")
    out = io.StringIO()
    assert main(["check", str(RULES), "--fhir-mapping", str(broken)], stdout=out) == 1
    assert f"{broken}:" in out.getvalue() and "did you mean 'heart_rate'?" in out.getvalue()
    out = io.StringIO()
    assert main(["check", str(RULES), "--fhir-mapping",
                 str(bundled / "fhir_mapping.yaml")], stdout=out) == 0
