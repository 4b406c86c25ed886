"""Strict JSON bodies on every JSON endpoint: duplicate keys, lone surrogates, NaN, floods."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from referral_rules_service.jsonbody import JsonBodyError, parse_json

from .conftest import HTN_URGENT, KEY, RULES
from .server import Server

_JSON = {"Content-Type": "application/json", "X-API-Key": KEY}
_CDS_BODY = ('{"hook": "patient-view", "hookInstance": "d1577c69", '
             '"context": {"patientId": "p1"}, "prefetch": {"patient": null, '
             '"observations": null, "conditions": null}}')


def test_parse_json_names_the_duplicate_key_path() -> None:
    with pytest.raises(JsonBodyError) as err:
        parse_json(b'{"facts": {"sbp": 185, "dbp": 112, "sbp": 120}}', 1000)
    assert err.value.issues == [{"path": "body.facts.sbp", "code": "duplicate-key",
                                 "message": "'sbp' appears more than once in this object; "
                                            "send it once"}]
    with pytest.raises(JsonBodyError) as err:
        parse_json(b'{"a": [{"b": 1}, {"c": {"d": 1, "d": 2}}]}', 1000)
    assert err.value.issues[0]["path"] == "body.a[1].c.d"


def test_parse_json_accepts_pairs_and_rejects_lone_surrogates() -> None:
    assert parse_json(b'{"x": "\\ud83d\\ude00"}', 10) == {"x": "\U0001f600"}
    assert parse_json(b'{"x": "\\\\ud800"}', 10) == {"x": "\\ud800"}  # an escaped backslash
    for body, path in [('{"x": "\\ud800"}', "body.x"), ('{"x": ["a", "\\udfff"]}', "body.x[1]"),
                       ('{"\\udc00": 1}', "body.\udc00")]:
        with pytest.raises(JsonBodyError) as err:
            parse_json(body.encode(), 10)
        assert err.value.issues[0]["code"] == "lone-surrogate"
        assert err.value.issues[0]["path"] == path


def test_parse_json_bounds_members_nesting_and_constants() -> None:
    with pytest.raises(JsonBodyError, match="too many members"):
        parse_json(json.dumps({f"k{i}": i for i in range(101)}).encode(), 100)
    with pytest.raises(JsonBodyError, match="nested too deeply"):
        parse_json(b"[" * 100_000 + b"]" * 100_000, 100)
    for constant in (b"NaN", b"Infinity", b"-Infinity"):
        with pytest.raises(JsonBodyError, match="not JSON"):
            parse_json(b'{"sbp": ' + constant + b"}", 100)


@pytest.mark.parametrize(("path", "body"), [
    ("/v1/decisions", '{"facts": {"care_level": "primary", "has_hypertension": true, '
                      '"visit_type": "follow_up", "sbp": 185, "dbp": 112, "sbp": 120}}'),
    ("/v1/feedback", '{"decision_id": "x", "outcome": "accepted", "outcome": "declined"}'),
    ("/cds-services/referral-advice", _CDS_BODY[:-1] + ', "hook": "order-sign"}'),
    ("/cds-services/referral-advice/feedback",
     '{"feedback": [{"card": "c", "card": "d", "outcome": "accepted", '
     '"outcomeTimestamp": "2026-11-22T10:30:00Z"}]}'),
])
def test_duplicate_keys_are_rejected_on_every_json_endpoint(client: TestClient, path: str,
                                                            body: str) -> None:
    r = client.post(path, content=body, headers=_JSON)
    assert r.status_code == 422, r.text
    answer = r.json()
    assert set(answer) == {"error", "message", "issues"}
    assert answer["issues"][0]["code"] == "duplicate-key"
    assert answer["issues"][0]["path"].startswith("body.")


@pytest.mark.parametrize(("path", "body", "where"), [
    ("/v1/decisions", '{"facts": {"care_level": "primary", "visit_type": "\\ud800"}}',
     "body.facts.visit_type"),
    ("/v1/decisions", '{"facts": {"care_level": "primary"}, "conditions": ["\\udfff"]}',
     "body.conditions[0]"),
    ("/cds-services/referral-advice", _CDS_BODY.replace('"p1"', '"\\ud800"'),
     "body.context.patientId"),
])
def test_lone_surrogates_are_422_not_500(client: TestClient, path: str, body: str,
                                         where: str) -> None:
    r = client.post(path, content=body, headers=_JSON)
    assert r.status_code == 422, r.text
    assert r.json()["issues"][0] == {"path": where, "code": "lone-surrogate",
                                     "message": "a \\uD800–\\uDFFF escape without its pair "
                                                "is not a character"}


def test_too_many_facts_is_one_issue_without_suggestion_work(client: TestClient) -> None:
    facts = {"care_level": "primary", **{f"zz{i:05d}": 1 for i in range(40_000)}}
    r = client.post("/v1/decisions", json={"facts": facts})
    assert r.status_code == 422
    assert len(r.content) < 2000
    (issue,) = r.json()["issues"]
    assert issue["code"] == "too-many-facts" and issue["path"] == "body.facts"


def test_many_unknown_facts_give_a_bounded_report(client: TestClient) -> None:
    facts = {"care_level": "primary", **{f"sbp{i:03d}": 1 for i in range(299)}}
    r = client.post("/v1/decisions", json={"facts": facts})
    assert r.status_code == 422
    body = r.json()
    assert len(body["issues"]) == 50 and "299 problems; the first 50 are listed" in body[
        "message"]
    assert all(i["code"] == "unknown-fact" for i in body["issues"])
    assert len(r.content) < 20_000


def test_a_flood_of_unknown_names_stalls_no_other_client(tmp_path: Path) -> None:
    """Issue 11 item 2: 40,000 unknown names (640 KB) took 10 s and a 9 MB answer, and two of
    them held every other client for 22 s (the did-you-mean work ran on the event loop)."""
    server = Server(tmp_path, RULES)
    try:
        facts = {"care_level": "primary", **{f"zz{i:05d}xy": 1 for i in range(40_000)}}
        flood = json.dumps({"facts": facts}).encode()
        answers: list[tuple[int, int, float]] = []

        def send(body: bytes) -> None:
            conn = server.connection()
            try:
                start = time.monotonic()
                conn.request("POST", "/v1/decisions", body,
                             {"Content-Type": "application/json"})
                response = conn.getresponse()
                data = response.read()
                answers.append((response.status, len(data), time.monotonic() - start))
            finally:
                conn.close()

        threads = [threading.Thread(target=send, args=(flood,)) for _ in range(2)]
        for t in threads:
            t.start()
        health: list[float] = []
        for _ in range(5):
            start = time.monotonic()
            assert server.request("GET", "/healthz")[0] == 200
            health.append(time.monotonic() - start)
        status, made = server.request("POST", "/v1/decisions", {"facts": HTN_URGENT})
        for t in threads:
            t.join()
        assert status == 200 and made["direction"] == "up"
        assert max(health) < 1.0, health
        assert [a[0] for a in answers] == [422, 422]
        assert all(size < 2000 and seconds < 3.0 for _, size, seconds in answers), answers
    finally:
        server.stop()


def test_strict_parse_of_a_large_fhir_body_is_accepted(client: TestClient) -> None:
    entries: list[dict[str, Any]] = [{"resource": {
        "resourceType": "Observation", "id": f"o{i}", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "effectiveDateTime": "2020-01-01T00:00:00Z",
        "valueQuantity": {"value": 70, "unit": "/min", "system": "http://unitsofmeasure.org",
                          "code": "/min"}}} for i in range(400)]
    body = json.loads(_CDS_BODY)
    body["prefetch"]["observations"] = {"resourceType": "Bundle", "type": "searchset",
                                        "entry": entries}
    r = client.post("/cds-services/referral-advice", json=body)
    assert r.status_code == 200, r.text
