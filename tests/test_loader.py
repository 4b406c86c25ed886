"""Broken rules files: every problem at file:line:column with a code, never a traceback.

Each fixture in tests/invalid/ ends with ``# expect: LINE:COL CODE [text]`` lines. A fixture
named ``facts-*.yaml`` replaces the vocabulary, ``policy-*.yaml`` the policy; any other is added
as a ruleset next to the bundled vocabulary and policy.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from referral_rules import RulesetError, load_rulesets
from referral_rules.errors import Issue
from referral_rules.loader import load_yaml

from .conftest import RULES

INVALID = Path(__file__).parent / "invalid"
FIXTURES = sorted(INVALID.glob("*.yaml"))
EXPECT = re.compile(r"^# expect: (\d+):(\d+) (\S+)(?: (.*))?$")


def _directory(tmp_path: Path, fixture: Path) -> tuple[Path, Path]:
    shutil.copy(RULES / "facts.yaml", tmp_path / "facts.yaml")
    shutil.copy(RULES / "policy.yaml", tmp_path / "policy.yaml")
    if fixture.name.startswith("facts-"):
        target = tmp_path / "facts.yaml"
    elif fixture.name.startswith("policy-"):
        target = tmp_path / "policy.yaml"
    else:
        target = tmp_path / "broken.yaml"
    shutil.copy(fixture, target)
    return tmp_path, target


def _load_issues(directory: Path) -> tuple[Issue, ...]:
    with pytest.raises(RulesetError) as info:
        load_rulesets(directory)
    return info.value.issues


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.stem for f in FIXTURES])
def test_loader_reports_fixture_problems_at_their_location(tmp_path: Path, fixture: Path) -> None:
    expected = [m.groups() for line in fixture.read_text(encoding="utf-8").splitlines()
                if (m := EXPECT.match(line))]
    assert expected, f"{fixture.name} states no expectation"
    directory, target = _directory(tmp_path, fixture)
    issues = _load_issues(directory)
    for line, col, code, text in expected:
        found = [i for i in issues if (i.line, i.column, i.code) == (int(line), int(col), code)
                 and i.file == str(target)]
        assert found, f"no {code} at {line}:{col}; got: {[str(i) for i in issues]}"
        if text:
            assert any(text in str(i) for i in found), [str(i) for i in found]
    assert len(issues) == len(expected), [str(i) for i in issues]


def test_loader_lists_problems_in_file_order(tmp_path: Path) -> None:
    directory, _ = _directory(tmp_path, INVALID / "many-problems.yaml")
    issues = _load_issues(directory)
    assert [(i.line, i.column) for i in issues] == sorted((i.line, i.column) for i in issues)
    assert len(issues) == 4


def test_issue_text_is_file_line_column_message_code(tmp_path: Path) -> None:
    directory, target = _directory(tmp_path, INVALID / "unknown-operator.yaml")
    (issue,) = _load_issues(directory)
    assert str(issue) == (f"{target}:11:15: rules.0.when: unknown operator '=>' "
                          "(did you mean '>='?) [unknown-operator]")


def test_loader_missing_directory_and_files(tmp_path: Path) -> None:
    issues = _load_issues(tmp_path / "nope")
    assert issues[0].code == "file-missing"
    issues = _load_issues(tmp_path)
    assert {i.code for i in issues} == {"file-missing"}
    assert len(issues) == 2


def test_loader_rejects_non_utf8_and_empty_files(tmp_path: Path) -> None:
    directory, target = _directory(tmp_path, INVALID / "unknown-operator.yaml")
    target.write_bytes("id: broken\ntitle: 高血压\n".encode("gb18030"))
    issues = _load_issues(directory)
    assert issues[0].code == "yaml-syntax"
    assert "UTF-8" in issues[0].message
    target.write_text("", encoding="utf-8")
    assert "empty" in _load_issues(directory)[0].message


@pytest.mark.parametrize("char", ["\x7f", "\x01", "\ufffe"])
def test_loader_locates_a_character_yaml_does_not_allow(tmp_path: Path, char: str) -> None:
    """A control character pasted into a rules file: its line and column, not a traceback."""
    directory, target = _directory(tmp_path, INVALID / "unknown-operator.yaml")
    target.write_text(f"id: broken\ntitle: {{zh: 高血压{char}, en: x}}\n", encoding="utf-8")
    (issue,) = _load_issues(directory)
    assert (issue.line, issue.column, issue.code) == (2, 16, "yaml-syntax")
    assert f"U+{ord(char):04X}" in issue.message
    done = subprocess.run([sys.executable, "-m", "referral_rules", "check", str(directory)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"broken.yaml:2:16: YAML does not allow the character U+{ord(char):04X}" in done.stderr


def test_yaml_no_stays_a_word(tmp_path: Path) -> None:
    """YAML 1.1 would read `no` as false; `accepts_transfer: no` must mean the word."""
    directory, target = _directory(tmp_path, INVALID / "unknown-operator.yaml")
    target.write_text(
        "id: ok\nversion: '1'\ntitle: {zh: 测试, en: Test}\nsources: {S1: {title: T}}\n"
        "rules:\n  - id: OK-1\n    title: {zh: 测试, en: Test}\n    when: sbp >= 180\n"
        "    direction: up\n    citation: {source: S1, clause: '1'}\n"
        "cases:\n  - name: declined\n"
        "    facts: {care_level: primary, sbp: 190, accepts_transfer: no}\n"
        "    expect: {refusal: required_now}\n",
        encoding="utf-8",
    )
    bundle = load_rulesets(directory)
    assert bundle.cases[0].case.facts["accepts_transfer"] == "no"


def test_bundled_rulesets_load(bundle: object) -> None:
    from referral_rules import Bundle

    assert isinstance(bundle, Bundle)
    assert {"hypertension", "diabetes", "chest_pain", "post_operative"} <= set(bundle.rulesets)
    for rule in bundle.rules:
        assert rule.citations, f"{rule.id} cites nothing"


def test_a_broken_condition_file_does_not_cascade_into_case_errors(tmp_path: Path) -> None:
    """One mistake in hypertension.yaml gives one message, not one per cross-condition case."""
    shutil.copytree(RULES, tmp_path / "r")
    path = tmp_path / "r" / "hypertension.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(re.sub(r'^version: "[^"]*"\n', lambda m: m.group(0) + 'version: "1"\n', text,
                           count=1, flags=re.M), encoding="utf-8")
    issues = _load_issues(tmp_path / "r")
    assert [i.code for i in issues] == ["duplicate-key"]
    text2 = text.replace("when: consciousness_impaired", "when: consciousness_impared", 1)
    path.write_text(text2, encoding="utf-8")
    issues = _load_issues(tmp_path / "r")
    assert [i.code for i in issues] == ["unknown-fact"]


@pytest.mark.parametrize("name", ["alias-bomb", "deep-nesting", "alias-cycle"])
def test_loader_bounds_hostile_yaml(tmp_path: Path, name: str) -> None:
    """An alias bomb, a 5,000-deep list and an alias cycle: one located error, within a second.

    `check` runs in a subprocess first, with a timeout, so an unbounded loader fails the test
    instead of hanging it.
    """
    directory, target = _directory(tmp_path, INVALID / f"{name}.yaml")
    proc = subprocess.run([sys.executable, "-m", "referral_rules", "check", str(directory)],
                          capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "RecursionError" not in proc.stderr
    first = proc.stderr.splitlines()[0]
    assert first.startswith(f"{target}:") and first.endswith("[yaml-limit]"), first
    text = target.read_text(encoding="utf-8")
    started = time.perf_counter()
    _, _, issues = load_yaml(text, str(target))
    assert time.perf_counter() - started < 1.0  # generous: it takes a few milliseconds
    assert [i.code for i in issues] == ["yaml-limit"]


def test_loader_accepts_ordinary_aliases(tmp_path: Path) -> None:
    """Aliases within the bound still work: only the expansion is limited, not the feature."""
    data, _, issues = load_yaml("a: &x [1, 2]\nb: *x\nc: [*x, *x]\n", "ok.yaml")
    assert not issues
    assert data == {"a": [1, 2], "b": [1, 2], "c": [[1, 2], [1, 2]]}
    deep = "x: " + "[" * 40 + "]" * 40 + "\n"
    assert load_yaml(deep, "deep.yaml")[2] == []
