"""The workbench API (``/v1/workbench``) and page: read and validate only, never audited, every
answer from the library (issue 13)."""

from __future__ import annotations

import io
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from referral_rules import Engine, load_rulesets
from referral_rules.cli import main
from referral_rules.loader import load_yaml
from referral_rules.present import present
from referral_rules_service import Settings
from referral_rules_service.routers.workbench import CSP
from referral_rules_service.workbench_app import create_workbench_app
from referral_rules_service.workbench_cases import _scalar

from ..conftest import CONFLICTING_DOWN
from .conftest import RULES

HTN_FIRST = {"care_level": "primary", "has_hypertension": True, "visit_type": "first_visit",
             "sbp": 182, "dbp": 96}


def copy_rules(tmp: Path) -> Path:
    target = tmp / "rules"
    shutil.copytree(RULES, target)
    return target


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The workbench alone (``referral-rules workbench``): no database."""
    app = create_workbench_app(RULES, "durable", Settings())
    with TestClient(app) as client:
        yield client


@pytest.fixture(scope="module")
def library() -> Iterator[Engine]:
    engine = Engine(load_rulesets(RULES), "durable")
    yield engine
    engine.close()


def _yaml_line(file: str, line: int) -> str:
    return (RULES / file).read_text(encoding="utf-8").splitlines()[line - 1]


# --- the form ---------------------------------------------------------------------------------


def test_form_shows_every_fact_once_grouped_by_ruleset_and_scope(bench: TestClient) -> None:
    form = bench.get("/v1/workbench/form").json()
    vocab = load_rulesets(RULES).vocabulary
    shown = [f for g in form["groups"] for s in g["sections"] for f in s["facts"]]
    assert sorted(shown) == sorted(vocab.facts)  # each fact once, none left out
    groups = {g["id"]: g for g in form["groups"]}
    assert form["groups"][0]["id"] == "patient"
    assert "care_level" in form["groups"][0]["sections"][0]["facts"]
    htn = groups["hypertension"]
    assert htn["scope"] == "has_hypertension or bp_raised"
    scope = next(s for s in htn["sections"] if s["kind"] == "scope")["facts"]
    criteria = next(s for s in htn["sections"] if s["kind"] == "criteria")["facts"]
    # bp_raised is a named condition over sbp and dbp: the scope shows the facts it reads
    assert set(scope) | set(htn["shared"]) >= {"has_hypertension", "sbp", "dbp"}
    assert "visit_type" in criteria + htn["shared"]
    sbp = form["facts"]["sbp"]
    assert sbp["type"] == "number" and sbp["unit"] == "mmHg" and sbp["range"] == [40, 300]
    assert sbp["label"]["zh"] == "收缩压"
    assert any(r.startswith("HTN-") for r in sbp["used_by"])
    assert form["facts"]["visit_type"]["values"] == ["first_visit", "follow_up", "inpatient"]


def test_derived_facts_are_marked_with_their_sources(bench: TestClient) -> None:
    facts = bench.get("/v1/workbench/form").json()["facts"]
    temp = facts["temperature_normal"]["derive"]
    assert temp["from"] == ["body_temperature"]
    assert temp["pieces"][0]["when"] == "body_temperature > 37.0"
    assert temp["pieces"][0]["value"] is False
    assert temp["pieces"][0]["citations"][0]["quote"]
    assert facts["sbp"]["derive"] is None


# --- evaluate ---------------------------------------------------------------------------------


def test_evaluate_is_the_library_decision_with_its_presentation(bench: TestClient,
                                                                 library: Engine) -> None:
    r = bench.post("/v1/workbench/evaluate", json={"facts": HTN_FIRST, "lang": "zh"})
    assert r.status_code == 200
    decision = library.evaluate(HTN_FIRST)
    body = r.text
    assert body.startswith('{"decision":' + decision.to_json() + ",")  # byte for byte
    data = r.json()
    shown = present(decision, "zh")
    assert data["presentation"]["headline"] == shown.headline
    assert [s["key"] for s in data["presentation"]["sections"]] == [s.key for s in shown.sections]
    assert data["decision"]["direction"] == "up"
    fired = next(f for f in data["decision"]["fired"] if f["id"] == "HTN-U1-SEVERE-BP")
    assert fired["citations"][0]["quote"] == "血压显著升高≥180/110mmHg"
    where = data["rules"]["HTN-U1-SEVERE-BP"]
    assert where["file"] == "hypertension.yaml"
    assert "- id: HTN-U1-SEVERE-BP" in _yaml_line(where["file"], where["line"])
    assert where["when"] == "bp_severely_raised"
    assert data["recorded"] == sorted(HTN_FIRST)


def test_evaluate_in_english_and_with_named_rulesets(bench: TestClient, library: Engine) -> None:
    r = bench.post("/v1/workbench/evaluate",
                   json={"facts": HTN_FIRST, "lang": "en", "conditions": ["hypertension"]})
    data = r.json()
    decision = library.evaluate(HTN_FIRST, ["hypertension"])
    assert data["presentation"]["headline"] == present(decision, "en").headline
    assert data["presentation"]["lang"] == "en"
    assert [r["scope"] for r in data["decision"]["rulesets"] if r["scope"]] == ["requested"]


def test_every_rule_named_has_its_file_line(bench: TestClient) -> None:
    sparse = {"care_level": "primary", "has_hypertension": True, "sbp": 150, "dbp": 92}
    data = bench.post("/v1/workbench/evaluate", json={"facts": sparse}).json()
    d = data["decision"]
    named = {f["id"] for f in d["fired"]} | set(d["undetermined_rules"]) | {
        p["rule"] for p in d["possible_emergencies"]}
    assert named and named <= set(data["rules"])
    for rid in named:
        where = data["rules"][rid]
        assert f"- id: {rid}" in _yaml_line(where["file"], where["line"]), rid


def test_undetermined_rules_list_the_facts_that_would_decide_them(bench: TestClient) -> None:
    sparse = {"care_level": "primary", "has_hypertension": True, "sbp": 150, "dbp": 92}
    data = bench.post("/v1/workbench/evaluate", json={"facts": sparse}).json()
    d = data["decision"]
    assert [u["rule"] for u in data["undetermined"]] == d["undetermined_rules"]
    assert data["undetermined"], "a sparse record leaves rules open"
    missing = {m["fact"]: m for m in d["missing_facts"]}
    for item in data["undetermined"]:
        assert item["facts"], item["rule"]
        for fact in item["facts"]:
            assert item["rule"] in missing[fact["fact"]]["needed_by"]
            assert fact["fact"] not in sparse


def test_derived_facts_in_the_answer_say_what_they_came_from(bench: TestClient) -> None:
    facts = {"care_level": "secondary", "post_operative": True, "body_temperature": 37.5}
    data = bench.post("/v1/workbench/evaluate", json={"facts": facts}).json()
    derived = {f["fact"]: f for f in data["decision"]["derived_facts"]}
    assert derived["temperature_normal"]["value"] is False
    assert derived["temperature_normal"]["derived_from"] == {"body_temperature": 37.5}


@pytest.mark.parametrize(("payload", "path", "code"), [
    ({"facts": {"care_level": "primary", "sbp": "182"}}, "body.facts.sbp", "wrong-type"),
    ({"facts": {"care_level": "primary", "sbp": 1800}}, "body.facts.sbp", "out-of-range"),
    ({"facts": {"care_level": "primary", "sbpp": 182}}, "body.facts.sbpp", "unknown-fact"),
    ({"facts": {"sbp": 182}}, "body.facts.care_level", "missing-required"),
    ({"facts": {"care_level": "primary"}, "conditions": ["hypertensoin"]}, "body.conditions",
     "unknown-condition"),
])
def test_invalid_facts_are_422_with_the_fact(bench: TestClient, payload: dict[str, Any],
                                              path: str, code: str) -> None:
    r = bench.post("/v1/workbench/evaluate", json=payload)
    assert r.status_code == 422
    issue = r.json()["issues"][0]
    assert (issue["path"], issue["code"]) == (path, code)


def test_the_fact_count_and_body_size_are_bounded(tmp_path: Path) -> None:
    app = create_workbench_app(RULES, "python", Settings(max_facts=5, max_body_bytes=2048))
    with TestClient(app) as client:
        many = {f"x{i}": 1 for i in range(6)}
        r = client.post("/v1/workbench/evaluate", json={"facts": many})
        assert r.status_code == 422 and r.json()["issues"][0]["code"] == "too-many-facts"
        big = client.post("/v1/workbench/draft", json={"file": "a.yaml", "text": "x" * 5000})
        assert big.status_code == 413
        dup = client.post("/v1/workbench/evaluate", content=b'{"facts": {"sbp": 1, "sbp": 2}}',
                          headers={"Content-Type": "application/json"})
        assert dup.status_code == 422 and dup.json()["issues"][0]["code"] == "duplicate-key"


def test_the_service_never_audits_a_workbench_evaluation(client: TestClient) -> None:
    store = client.app.state.services.store  # type: ignore[attr-defined]
    from referral_rules_service.store import decisions

    before = store.count(decisions)
    for _ in range(3):
        assert client.post("/v1/workbench/evaluate",
                           json={"facts": HTN_FIRST}).status_code == 200
        assert client.post("/v1/workbench/case",
                           json={"facts": HTN_FIRST, "name": "n"}).status_code == 200
    assert store.count(decisions) == before
    assert client.post("/v1/decisions", json={"facts": HTN_FIRST}).status_code == 200
    assert store.count(decisions) == before + 1  # the same store does count real decisions


def test_the_workbench_alone_has_no_database_and_no_other_endpoints(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    app = create_workbench_app(RULES, "python", Settings())
    with TestClient(app) as client:
        assert client.post("/v1/workbench/evaluate", json={"facts": HTN_FIRST}).status_code == 200
        paths = set(client.get("/openapi.json").json()["paths"])
        assert paths and all(p.startswith("/v1/workbench/") for p in paths)
        assert client.post("/v1/decisions", json={"facts": HTN_FIRST}).status_code == 404
        assert client.get("/cds-services").status_code == 404
        assert client.post("/v1/admin/reload").status_code == 404
        assert client.get("/", follow_redirects=False).headers["location"] == "/workbench"
        assert not hasattr(app.state, "services")
    assert not list(tmp_path.iterdir())  # no database file, nothing written


# --- cases ------------------------------------------------------------------------------------


def test_cases_are_listed_by_file_as_written(bench: TestClient) -> None:
    bundle = load_rulesets(RULES)
    data = bench.get("/v1/workbench/cases").json()
    assert data["total"] == len(bundle.cases) == sum(len(f["cases"]) for f in data["files"])
    files = {f["file"]: f for f in data["files"]}
    assert files["hypertension.yaml"]["ruleset"] == "hypertension"
    assert files["cross_condition.yaml"]["ruleset"] is None
    first = files["hypertension.yaml"]["cases"][0]
    assert first["name"] in _yaml_line("hypertension.yaml", first["line"])
    assert first["conditions"] == "all"  # the sparse cases come first
    assert "direction" in first["expect"]


def test_running_a_file_of_cases_passes_and_all_reports_coverage(bench: TestClient) -> None:
    one = bench.post("/v1/workbench/cases/run", json={"file": "hypertension.yaml"}).json()
    count = len(load_rulesets(RULES).rulesets["hypertension"].cases)
    assert (one["passed"], one["failed"], one["coverage"]) == (count, 0, None)
    assert all(r["diff"] and all(d["ok"] for d in r["diff"]) for r in one["results"])
    everything = bench.post("/v1/workbench/cases/run", json={}).json()
    assert everything["failed"] == 0 and everything["coverage"]["percent"] == 100.0
    single = bench.post("/v1/workbench/cases/run",
                        json={"file": "hypertension.yaml", "index": 2}).json()
    assert len(single["results"]) == 1 and single["results"][0]["index"] == 2
    assert bench.post("/v1/workbench/cases/run",
                      json={"file": "nope.yaml"}).status_code == 404
    assert bench.post("/v1/workbench/cases/run",
                      json={"file": "../facts.yaml"}).status_code == 422


def test_a_failing_case_shows_the_diff(tmp_path: Path) -> None:
    rules = copy_rules(tmp_path)
    path = rules / "hypertension.yaml"
    text = path.read_text(encoding="utf-8")
    # the first sparse case expects urgency urgent: make it expect routine
    head, sep, tail = text.partition("cases:\n")
    tail = tail.replace("      urgency: urgent\n", "      urgency: routine\n", 1)
    path.write_text(head + sep + tail, encoding="utf-8")
    with TestClient(create_workbench_app(rules, "python", Settings())) as client:
        run = client.post("/v1/workbench/cases/run", json={"file": "hypertension.yaml",
                                                           "index": 0}).json()
    (result,) = run["results"]
    assert not result["passed"] and run["failed"] == 1
    assert result["problems"] == ["urgency: expected 'routine', got 'urgent'"]
    rows = {d["key"]: d for d in result["diff"]}
    assert rows["urgency"] == {"key": "urgency", "expected": "routine", "actual": "urgent",
                               "ok": False}
    assert rows["direction"]["ok"] and rows["direction"]["actual"] == "up"


# --- a patient as a case ----------------------------------------------------------------------


def test_case_snippet_round_trips_through_referral_rules_test(bench: TestClient,
                                                              tmp_path: Path) -> None:
    facts = {**HTN_FIRST, "accepts_transfer": "no", "body_temperature": 36.6,
             "sex": "male"}
    r = bench.post("/v1/workbench/case", json={"facts": facts, "name": "工作台：初诊 182/96 拒绝",
                                               "criterion": "HTN-U1"})
    assert r.status_code == 200
    made = r.json()
    assert made["verified"] and made["problems"] == []
    text = made["yaml"]
    assert "    conditions: all\n" in text
    assert 'accepts_transfer: "no"' in text  # the word, never YAML 1.1's false
    assert "      direction: up\n" in text and "signed_refusal" in text
    assert "pregnant_or_breastfeeding: false" in text  # derived from sex: male
    rules = copy_rules(tmp_path)
    cases = rules / "cross_condition.yaml"
    cases.write_text(cases.read_text(encoding="utf-8").rstrip("\n") + "\n" + text,
                     encoding="utf-8")
    out = io.StringIO()
    code = main(["test", str(rules), "-v"], stdout=out, stderr=io.StringIO())
    lines = [line for line in out.getvalue().splitlines() if "工作台：初诊 182/96 拒绝" in line]
    assert code == 0, out.getvalue()[-2000:]
    assert len(lines) == 1 and lines[0].startswith("PASS")


def test_case_snippet_with_named_rulesets_lists_them(bench: TestClient) -> None:
    made = bench.post("/v1/workbench/case", json={
        "facts": HTN_FIRST, "conditions": ["hypertension", "diabetes"], "name": "x"}).json()
    assert "    conditions: [diabetes, hypertension]\n" in made["yaml"] or \
        "    conditions: [hypertension, diabetes]\n" in made["yaml"]
    assert made["verified"]


@pytest.mark.parametrize("value", [182, 36.6, 1e-05, 2.5e20, True, False, "no", "yes", "on",
                                   "null", "primary", "张某 said \"no\"", "a: b", "#x", "", "1",
                                   "\x7f", "a\x85b", "a\u2028b", "tab\tnew\nline", "\ufeffbom"])
def test_snippet_scalars_read_back_as_the_same_value(value: object) -> None:
    data, _, issues = load_yaml(f"v: {_scalar(value)}\n", "x.yaml")
    assert not issues
    assert data["v"] == value and type(data["v"]) is type(value)


# --- rules, lint, files, drafts ----------------------------------------------------------------


def test_ruleset_view_has_rules_thresholds_and_the_flow(bench: TestClient) -> None:
    view = bench.get("/v1/workbench/rulesets/hypertension").json()
    assert view["flow"].startswith("flowchart LR") and "```" not in view["flow"]
    rules = {r["id"]: r for r in view["rules"]}
    rule = rules["HTN-U1-SEVERE-BP"]
    assert "- id: HTN-U1-SEVERE-BP" in _yaml_line(rule["file"], rule["line"])
    assert rule["citations"][0]["quote"] == "血压显著升高≥180/110mmHg"
    definitions = {d["name"]: d for d in view["definitions"]}
    threshold = next(d for d in definitions.values() if d["kind"] == "threshold")
    assert threshold["citations"], threshold
    assert view["scope"] == "has_hypertension or bp_raised"
    assert bench.get("/v1/workbench/rulesets/nope").status_code == 404


def test_lint_findings_carry_an_example_patient_the_form_can_load(tmp_path: Path) -> None:
    rules = copy_rules(tmp_path)
    path = rules / "hypertension.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("rules:\n", CONFLICTING_DOWN, 1),
                    encoding="utf-8")
    with TestClient(create_workbench_app(rules, "python", Settings())) as client:
        data = client.get("/v1/workbench/lint").json()
        assert data["ok"]
        conflicts = [f for f in data["findings"] if f["code"] == "conflict"]
        assert conflicts and all(f["file"] == "hypertension.yaml" for f in conflicts)
        example = conflicts[0]["example"]
        r = client.post("/v1/workbench/evaluate", json={"facts": example})
        assert r.status_code == 200
        fired = {f["id"] for f in r.json()["decision"]["fired"]}
        assert "HTN-WB-DOWN" in fired and len(fired) >= 2  # the two rules fire together
        assert client.get("/v1/workbench/lint").json() == data  # computed once per version


def test_lint_of_the_bundled_rules_finds_nothing(bench: TestClient) -> None:
    data = bench.get("/v1/workbench/lint").json()
    assert data == {"ok": True, "generation": 1, "findings": [], "issues": []}


def test_files_are_read_only_and_confined_to_the_rules_directory(bench: TestClient) -> None:
    names = [f["file"] for f in bench.get("/v1/workbench/files").json()["files"]]
    assert "hypertension.yaml" in names and "facts.yaml" in names
    got = bench.get("/v1/workbench/files/policy.yaml").json()
    assert got["text"] == (RULES / "policy.yaml").read_text(encoding="utf-8")
    assert bench.get("/v1/workbench/files/nope.yaml").status_code == 404
    for bad in ("..%2Fpyproject.toml", "..%2F..%2Fetc%2Fpasswd", "facts.txt"):
        assert bench.get(f"/v1/workbench/files/{bad}").status_code in (404, 422), bad


def test_draft_problems_are_located_and_nothing_is_written(bench: TestClient) -> None:
    before = {p.name: p.stat().st_mtime_ns for p in RULES.iterdir()}
    text = (RULES / "hypertension.yaml").read_text(encoding="utf-8")
    ok = bench.post("/v1/workbench/draft", json={"file": "hypertension.yaml", "text": text})
    assert ok.json()["ok"] and ok.json()["summary"]["rules"] == len(load_rulesets(RULES).rules)
    broken = text.replace("when: bp_severely_raised", "when: sbpp >= 180", 1)
    line = broken[:broken.index("sbpp >= 180")].count("\n") + 1
    column = broken.splitlines()[line - 1].index("sbpp") + 1
    data = bench.post("/v1/workbench/draft",
                      json={"file": "hypertension.yaml", "text": broken}).json()
    assert not data["ok"]
    issue = data["issues"][0]
    assert (issue["file"], issue["line"], issue["column"]) == ("hypertension.yaml", line, column)
    assert issue["suggestion"] == "did you mean 'sbp'?"
    assert issue["text"].startswith(f"hypertension.yaml:{line}:{column}: ")
    syntax = bench.post("/v1/workbench/draft",
                        json={"file": "hypertension.yaml", "text": "id: [unclosed\n"}).json()
    assert syntax["issues"][0]["code"] == "yaml-syntax"
    added = bench.post("/v1/workbench/draft", json={
        "file": "extra_cases.yaml", "text": "id: extra\ntitle: {zh: 额外, en: Extra}\n"
        "cases:\n  - name: n\n    conditions: all\n    facts: {care_level: primary}\n"
        "    expect: {direction: stay}\n"}).json()
    assert added["ok"] and added["summary"]["cases"] == len(load_rulesets(RULES).cases) + 1
    assert bench.post("/v1/workbench/draft",
                      json={"file": "../escape.yaml", "text": "x"}).status_code == 422
    # a character YAML does not allow: located, never a 500 (the library's loader raises here)
    odd = bench.post("/v1/workbench/draft",
                     json={"file": "hypertension.yaml", "text": "id: x\nversion: \x7f1\n"})
    assert odd.status_code == 200
    assert odd.json()["issues"][0]["text"].startswith("hypertension.yaml:2:10: character U+007F")
    assert {p.name: p.stat().st_mtime_ns for p in RULES.iterdir()} == before


# --- the page ---------------------------------------------------------------------------------

_URL = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


def test_page_and_assets_are_served_from_the_package_only(client: TestClient) -> None:
    r = client.get("/workbench")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.headers["content-security-policy"] == CSP
    assert "default-src 'self'" in CSP and "connect-src 'self'" in CSP
    urls = set(_URL.findall(r.text))
    assert urls
    for url in urls:
        parts = urlsplit(url)
        assert not parts.netloc, url
        if parts.scheme == "data" or url.startswith("#"):
            continue
        assert url.startswith("/"), url
        assert client.get(url).status_code == 200, url
    for asset in ("workbench.js", "workbench.css", "mermaid/mermaid.min.js", "mermaid/LICENSE"):
        got = client.get(f"/workbench-assets/{asset}")
        assert got.status_code == 200 and len(got.content) > 500, asset
    assert "MIT License" in client.get("/workbench-assets/mermaid/LICENSE").text
    script = client.get("/workbench-assets/workbench.js").text
    assert not re.search(r"https?://", script)  # no other host, not even in a comment
    assert client.get("/workbench/", follow_redirects=False).headers["location"] == "/workbench"


def test_openapi_documents_every_workbench_endpoint_with_examples(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = {p: v for p, v in spec["paths"].items() if p.startswith("/v1/workbench")}
    assert set(paths) == {"/v1/workbench/form", "/v1/workbench/evaluate", "/v1/workbench/cases",
                          "/v1/workbench/cases/run", "/v1/workbench/case",
                          "/v1/workbench/rulesets/{ruleset_id}", "/v1/workbench/lint",
                          "/v1/workbench/files", "/v1/workbench/files/{name}",
                          "/v1/workbench/draft"}
    schemas = spec["components"]["schemas"]
    for path, ops in paths.items():
        for op in ops.values():
            assert op["summary"] and op["description"], path
            assert "workbench" in op["tags"]
            ref = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
            assert schemas[ref.rsplit("/", 1)[-1]], path
            if "requestBody" in op:
                body = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                assert schemas[body.rsplit("/", 1)[-1]].get("examples"), path
                assert "422" in op["responses"], path
    assert schemas["Evaluation"]["properties"]["decision"]["$ref"].endswith("/Decision")


def test_the_cli_refuses_rules_that_do_not_load(tmp_path: Path) -> None:
    rules = copy_rules(tmp_path)
    (rules / "hypertension.yaml").write_text("id: [broken\n", encoding="utf-8")
    err = io.StringIO()
    code = main(["workbench", str(rules), "--port", "1", "--no-open"], stderr=err)
    assert code == 1
    assert "hypertension.yaml:2:1: YAML syntax error" in err.getvalue()
    assert "1 problem(s)" in err.getvalue()


def test_evaluate_answer_is_valid_json_with_chinese_kept(bench: TestClient) -> None:
    r = bench.post("/v1/workbench/evaluate", json={"facts": HTN_FIRST, "lang": "zh"})
    assert "血压显著升高" in r.text  # not \\u-escaped: the page and people read it
    json.loads(r.text)



def _listening(port: int) -> list[str]:
    """Local addresses listening on ``port`` (Linux /proc/net/tcp and tcp6)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for row in path.read_text().splitlines()[1:]:
            local, state = row.split()[1], row.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.append(address)
    return found


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux /proc/net/tcp")
def test_the_cli_listens_on_127_0_0_1_only(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = (tmp_path / "log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "referral_rules", "workbench", str(RULES),
                             "--port", str(port), "--no-open"], cwd=tmp_path, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _listening(port):
            assert proc.poll() is None, (tmp_path / "log").read_text()
            time.sleep(0.2)
        assert _listening(port) == ["0100007F"]  # 127.0.0.1, and nothing else
        url = f"http://127.0.0.1:{port}/v1/workbench/evaluate"
        body = json.dumps({"facts": {**HTN_FIRST, "sbp": 187.25}}).encode()
        request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert json.load(answer)["decision"]["direction"] == "up"
    finally:
        proc.terminate()
        proc.wait(20)
        log.close()
    text = (tmp_path / "log").read_text()
    assert "http://127.0.0.1:" in text and "nothing is stored" in text
    assert "187.25" not in text  # no facts in the log
    assert [p.name for p in tmp_path.iterdir()] == ["log"]  # no database, nothing written
