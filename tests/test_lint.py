"""`referral-rules lint`: each flawed fixture gives its finding at the right place, with a usable
example patient; the bundled rulesets are clean."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from referral_rules import Engine, load_rulesets
from referral_rules.lint import lint

from .conftest import RULES
from .test_cli import run

LINT = Path(__file__).parent / "lint"
MINI = Path(__file__).parent / "fixtures" / "mini"
FIXTURES = sorted(LINT.glob("*.yaml"))
EXPECT = re.compile(r"^# expect: (?:(\S+\.yaml) )?(\d+):(\d+) (\S+)$")


def _directory(tmp_path: Path, fixture: Path) -> Path:
    for name in ("facts.yaml", "policy.yaml"):
        shutil.copy(MINI / name, tmp_path / name)
    shutil.copy(fixture, tmp_path / "lintfix.yaml")
    return tmp_path


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.stem for f in FIXTURES])
def test_lint_finds_each_flaw_where_it_is(tmp_path: Path, fixture: Path) -> None:
    expected = set()
    for line in fixture.read_text("utf-8").splitlines():
        m = EXPECT.match(line)
        if m:
            expected.add((m.group(1) or "lintfix.yaml", int(m.group(2)), int(m.group(3)),
                          m.group(4)))
    assert expected
    findings = lint(_directory(tmp_path, fixture))
    codes = {code for *_, code in expected}
    found = {(Path(f.file).name, f.line, f.column, f.code) for f in findings if f.code in codes}
    assert found == expected


def test_conflict_example_patient_fires_both_rules(tmp_path: Path) -> None:
    directory = _directory(tmp_path, LINT / "conflict.yaml")
    (finding,) = [f for f in lint(directory) if f.code == "conflict"]
    assert finding.example is not None
    decision = Engine(load_rulesets(directory), "python").evaluate(finding.example)
    assert {"L-UP", "L-DOWN"} <= set(decision.fired_ids)
    assert decision.direction == "up"  # precedence hides the down rule


def test_never_true_is_an_error_and_fails_the_command(tmp_path: Path) -> None:
    directory = _directory(tmp_path, LINT / "never-true.yaml")
    code, out, _ = run("lint", str(directory))
    assert code == 1
    assert "lintfix.yaml:9:11: error: L-NEVER: this condition can never be true" in out


def test_warnings_fail_only_with_strict(tmp_path: Path) -> None:
    directory = _directory(tmp_path, LINT / "redundant.yaml")
    assert run("lint", str(directory))[0] == 0
    code, out, _ = run("lint", str(directory), "--strict", "--json")
    assert code == 1
    payload = json.loads(out)
    assert payload["ok"] is False
    assert "redundant" in {f["code"] for f in payload["findings"]}


def test_bundled_rulesets_lint_clean() -> None:
    code, out, _ = run("lint", str(RULES), "--strict")
    assert code == 0, out
    assert out.strip().endswith("0 error(s), 0 warning(s)")


def test_examples_satisfy_their_conditions(bundle: object) -> None:
    """The solver's example for every bundled rule really makes it fire."""
    from referral_rules import Bundle
    from referral_rules.compiler import kleene
    from referral_rules.lint import satisfiable

    assert isinstance(bundle, Bundle)
    facts = dict(bundle.vocabulary.info)
    for rs in bundle.rulesets.values():
        for c in rs.computed:
            facts[c.name] = c.info
    for rule in bundle.rules:
        example = satisfiable(rule.expr, facts)
        assert example is not None, rule.id
        assert kleene(rule.expr, example) is True, rule.id
