"""The command line: check, test, eval, explain, schema; exit codes; no tracebacks."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

from referral_rules.cli import main

from .conftest import ROOT, RULES

HTN = {"care_level": "primary", "has_hypertension": True, "visit_type": "first_visit",
       "sbp": 182, "dbp": 96}


def run(*argv: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err, stdin=io.StringIO(stdin))
    return code, out.getvalue(), err.getvalue()


def test_check_passes_on_bundled_rules() -> None:
    code, out, _ = run("check", str(RULES))
    assert code == 0
    assert "ok: 5 rulesets" in out


def test_check_lists_every_problem_and_exits_1(tmp_path: Path) -> None:
    for name in ("facts.yaml", "policy.yaml"):
        shutil.copy(RULES / name, tmp_path / name)
    shutil.copy(Path(__file__).parent / "invalid" / "many-problems.yaml", tmp_path / "x.yaml")
    code, out, err = run("check", str(tmp_path))
    assert code == 1
    assert out == ""
    lines = err.strip().splitlines()
    assert lines[-1] == "4 problem(s)"
    assert lines[0].endswith("x.yaml:14:11: rules.0.when: unknown fact 'systolic' [unknown-fact]")
    assert "Traceback" not in err
    code, out, _ = run("check", str(tmp_path), "--json")
    payload = json.loads(out)
    assert code == 1 and payload["ok"] is False
    assert [i["code"] for i in payload["issues"]] == [
        "unknown-fact", "unknown-operator", "unknown-record", "unknown-source"]


def test_test_command_runs_cases_and_reports_coverage() -> None:
    code, out, _ = run("test", str(RULES))
    assert code == 0
    assert "coverage: 100.0%" in out
    assert out.strip().splitlines()[-1].endswith("passed, 0 failed")
    code, out, _ = run("test", str(RULES), "--json", "--backend", "python")
    payload = json.loads(out)
    assert payload["ok"] and payload["failed"] == 0 and payload["passed"] >= 250


def test_test_command_fails_on_a_wrong_case(tmp_path: Path) -> None:
    shutil.copytree(RULES, tmp_path / "r")
    path = tmp_path / "r" / "hypertension.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("      direction: up\n", "      direction: down\n", 1),
                    encoding="utf-8")
    code, out, _ = run("test", str(tmp_path / "r"))
    assert code == 1
    assert "FAIL" in out and "direction: expected 'down', got 'up'" in out


def test_eval_prints_decision_json() -> None:
    code, out, _ = run("eval", "-", "--rules", str(RULES), "--conditions", "hypertension",
                       stdin=json.dumps(HTN))
    assert code == 0
    decision = json.loads(out)
    assert decision["direction"] == "up"
    assert [r["id"] for r in decision["fired"]] == ["HTN-U1-SEVERE-BP"]


def test_eval_explain_zh_and_explain_command() -> None:
    code, out, _ = run("eval", "-", "--rules", str(RULES), "--conditions", "hypertension",
                       "--explain", "zh", stdin=json.dumps(HTN))
    assert code == 0 and "上转" in out and "不是医嘱" in out
    code, out, _ = run("explain", "-", "--rules", str(RULES), "--conditions", "hypertension",
                       "--lang", "en", stdin=json.dumps(HTN))
    assert code == 0 and "transfer up" in out and "not an order" in out


def test_eval_rejects_bad_facts_with_structured_errors() -> None:
    bad = {"care_level": "primary", "sbp": "90", "spb": 1}
    code, out, err = run("eval", "-", "--rules", str(RULES), "--json", stdin=json.dumps(bad))
    assert code == 1
    errors = json.loads(out)["errors"]
    assert [(e["fact"], e["code"]) for e in errors] == [("sbp", "wrong-type"),
                                                         ("spb", "unknown-fact")]
    assert "Traceback" not in err


def test_eval_invalid_json_and_missing_file() -> None:
    code, _, err = run("eval", "-", "--rules", str(RULES), stdin="{sbp: 1")
    assert code == 1 and "invalid JSON" in err and "-:1:2" in err
    code, _, err = run("eval", "/nonexistent.json", "--rules", str(RULES))
    assert code == 2 and "No such file" in err


def test_eval_unknown_condition_is_a_usage_error() -> None:
    code, _, err = run("eval", "-", "--rules", str(RULES), "--conditions", "hypertensoin",
                       stdin=json.dumps(HTN))
    assert code == 2 and "did you mean 'hypertension'" in err


def test_usage_errors_exit_2() -> None:
    assert run()[0] == 2
    assert run("frobnicate")[0] == 2


def test_schema_command_matches_committed_schemas() -> None:
    code, out, _ = run("schema", "--rules", str(RULES))
    assert code == 0
    schemas = json.loads(out)
    for name, schema in schemas.items():
        committed = json.loads((ROOT / "schemas" / f"{name}.schema.json").read_text("utf-8"))
        assert committed == schema, f"schemas/{name}.schema.json is stale: run " \
                                    "`referral-rules schema --write schemas`"


def test_python_m_entry_point() -> None:
    proc = subprocess.run([sys.executable, "-m", "referral_rules", "check", str(RULES)],
                          capture_output=True, text=True, check=False, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "ok:" in proc.stdout


def test_generated_ruleset_docs_are_current() -> None:
    """docs/rulesets/*.md are generated from the YAML; a stale copy fails here."""
    code, _, err = run("docs", str(RULES), "--out", str(ROOT / "docs" / "rulesets"), "--check")
    assert code == 0, err


def test_docs_check_detects_a_stale_document(tmp_path: Path) -> None:
    code, out, _ = run("docs", str(RULES), "--out", str(tmp_path), "--facts",
                       str(tmp_path / "facts.md"))
    assert code == 0 and "wrote" in out
    target = next(tmp_path.glob("hypertension.md"))
    target.write_text(target.read_text("utf-8").replace("HTN-U1", "HTN-X1"), "utf-8")
    code, _, err = run("docs", str(RULES), "--out", str(tmp_path), "--facts",
                       str(tmp_path / "facts.md"), "--check")
    assert code == 1 and "hypertension.md" in err
    text = (ROOT / "docs" / "rulesets" / "hypertension.md").read_text("utf-8")
    assert "## Not encoded / 未编码的内容" in text and "HTN-U1-SEVERE-BP" in text


def test_test_command_fails_below_full_coverage(tmp_path: Path) -> None:
    """A rule no case fires, with a threshold no case sits on, fails `test`."""
    shutil.copytree(RULES, tmp_path / "r")
    path = tmp_path / "r" / "hypertension.yaml"
    text = path.read_text(encoding="utf-8")
    extra = ("  - id: HTN-TEST-UNCOVERED\n    title: {zh: 测试, en: Test}\n"
             "    when: sbp >= 177.5 and age >= 125\n    direction: up\n"
             "    target_level: secondary\n    citation: {source: S1, clause: test}\n")
    path.write_text(text.replace("\ncases:\n", "\n" + extra + "cases:\n", 1), encoding="utf-8")
    code, out, _ = run("test", str(tmp_path / "r"))
    assert code == 1
    assert "UNCOVERED  rule HTN-TEST-UNCOVERED is fired by no case" in out
    assert "sbp >= 177.5 (HTN-TEST-UNCOVERED) has no case on and just past it" in out
