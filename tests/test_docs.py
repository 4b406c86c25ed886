"""Generated documentation: docs/facts.md (data dictionary) and the rulesets' Mermaid flowcharts."""

from __future__ import annotations

import io
import re
from pathlib import Path

from referral_rules import Bundle
from referral_rules.cli import main
from referral_rules.docs import render_facts, render_flow, render_ruleset

from .conftest import ROOT, RULES

DOCS = ROOT / "docs"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err, stdin=io.StringIO(""))
    return code, out.getvalue(), err.getvalue()


def expected_readers(bundle: Bundle) -> dict[str, set[str]]:
    """Fact → rule ids, worked out independently of docs.py (computed inputs count)."""
    computed = {c.name: c for rs in bundle.rulesets.values() for c in rs.computed}

    def expand(name: str) -> set[str]:
        item = computed.get(name)
        if item is None:
            return {name}
        return {name}.union(*(expand(i) for i in item.inputs))

    out: dict[str, set[str]] = {}
    for rule in bundle.rules:
        for fact in rule.facts:
            for name in expand(fact):
                out.setdefault(name, set()).add(rule.id)
    return out


def table_rows(text: str, heading: str) -> dict[str, list[str]]:
    """First-column name → cells, for the Markdown table under ``heading``."""
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    rows: dict[str, list[str]] = {}
    for line in section.splitlines():
        match = re.match(r"\| `([a-z0-9_]+)` \|", line)
        if match:
            rows[match.group(1)] = [c.strip() for c in line.strip("|").split(" | ")]
    return rows


def test_committed_facts_doc_is_current() -> None:
    code, out, err = run("docs", str(RULES), "--out", str(DOCS / "rulesets"), "--check")
    assert code == 0, err
    assert "docs are current" in out


def test_every_fact_is_in_facts_md_with_its_rule_ids(bundle: Bundle) -> None:
    text = (DOCS / "facts.md").read_text("utf-8")
    rows = table_rows(text, "## Facts / 事实")
    assert list(rows) == list(bundle.vocabulary.facts)  # vocabulary order, one row each
    readers = expected_readers(bundle)
    ids = {r.id for r in bundle.rules}
    for name, fact in bundle.vocabulary.facts.items():
        cells = rows[name]
        assert len(cells) == 10, name
        assert cells[1] == fact.type
        assert cells[7].startswith(fact.en.replace("|", "\\|")), name
        assert cells[-1] == ("yes / 是" if fact.derive else "—")
        shown = {i for i in re.split(r"[,;] ", cells[8]) if i in ids}
        assert shown == readers.get(name, set()), name
    # the computed values' inputs count for the rules that read the computed value
    assert "CP-D1-HEART-LOW-RISK" in rows["heart_history_points"][8]
    assert "CP-D1-HEART-LOW-RISK" in rows["age"][8]  # via heart_age_points inside heart_score
    assert "PO-D2-PADS" in rows["pads_total"][8]
    assert "fhir-mapping.md" in text.split("## Facts", 1)[0]
    for derived in bundle.derived:  # every derivation piece is listed with its condition
        rows_of = [line for line in text.splitlines() if line.startswith(f"| `{derived.fact}` | ")]
        assert len([r for r in rows_of if r.count("|") == 6]) == len(derived.pieces)


def test_computed_values_are_listed_with_how_they_are_computed(bundle: Bundle) -> None:
    text = (DOCS / "facts.md").read_text("utf-8")
    rows = table_rows(text, "## Computed values / 计算值")
    names = [c.name for rs in bundle.rulesets.values() for c in rs.computed]
    assert sorted(rows) == sorted(names) and {"heart_score", "pads_score"} <= set(rows)
    assert "`heart_score_total`" in rows["heart_score"][5]
    assert "pads_vital_signs + pads_activity" in rows["pads_score"][5]
    assert "CP-D1-HEART-LOW-RISK" in rows["heart_score"][7]


def test_each_ruleset_doc_has_one_mermaid_flowchart_with_every_rule(bundle: Bundle) -> None:
    for rs in bundle.rulesets.values():
        text = (DOCS / "rulesets" / f"{rs.id}.md").read_text("utf-8")
        blocks = re.findall(r"```mermaid\n(.*?)```", text, re.DOTALL)
        assert len(blocks) == 1, rs.id
        assert "## Flow / 流程图" in text
        lines = blocks[0].splitlines()
        assert lines[0] == "flowchart LR"
        nodes = dict(re.findall(r'^ {4}(r\d+)\["([^"]*)"\]$', blocks[0], re.MULTILINE))
        assert [label.split("<br/>")[0] for label in nodes.values()] == [r.id for r in rs.rules]
        assert list(nodes) == [f"r{i}" for i in range(len(rs.rules))]  # plain ids, file order
        edges = re.findall(r"^ {4}(r\d+) -->(?:\|[^|\"]+\|)? ([a-z_]+)$", blocks[0],
                           re.MULTILINE)
        assert [e[0] for e in edges] == list(nodes)  # one edge per rule
        outcomes = set(re.findall(r'^ {4}([a-z_]+)\(\["[^"]*"\]\)$', blocks[0], re.MULTILINE))
        assert {e[1] for e in edges} == outcomes
        classed = {n for line in lines if line.startswith("    class ")
                   for n in line.split()[1].split(",")}
        assert classed == outcomes  # every outcome node is styled by kind
        for line in lines[1:]:  # a quote only ever delimits a label
            assert line.count('"') in (0, 2), line


def test_mermaid_labels_escape_what_would_break_the_parser(bundle: Bundle) -> None:
    spec = bundle.rulesets["post_operative"].spec
    assert spec is not None
    rule = spec.rules[0].model_copy(update={
        "when": 'sbp < 90 and care_level == "primary" and x > 1 # [note]'})
    flow = render_flow(spec.model_copy(update={"rules": [rule]}))
    label = flow[2]
    assert label.startswith('    r0["PO-E1-SEPSIS<br/>') and label.endswith('"]')
    assert label.count('"') == 2
    assert "sbp #lt; 90" in label and "'primary'" in label and "x #gt; 1" in label
    assert "#35; [note]" in label


def test_long_conditions_are_shortened_and_output_is_deterministic(bundle: Bundle) -> None:
    rs = bundle.rulesets["hypertension"]
    assert render_ruleset(rs) == render_ruleset(rs)
    assert render_facts(bundle) == render_facts(bundle)
    assert rs.spec is not None
    for line in render_flow(rs.spec):
        match = re.match(r' {4}r\d+\["[^<]*<br/>(.*)"\]$', line)
        if match:
            text = match.group(1).replace("<br/>", " ")
            assert len(text) <= 130, text


def test_docs_check_detects_a_stale_facts_doc(tmp_path: Path) -> None:
    out_dir, facts = tmp_path / "docs" / "rulesets", tmp_path / "docs" / "facts.md"
    code, out, _ = run("docs", str(RULES), "--out", str(out_dir))
    assert code == 0 and f"wrote {facts}" in out  # default: facts.md next to --out
    assert facts.read_text("utf-8") == (DOCS / "facts.md").read_text("utf-8")
    code, out, _ = run("docs", str(RULES), "--out", str(out_dir), "--check")
    assert code == 0 and "docs are current" in out
    facts.write_text(facts.read_text("utf-8").replace("| `sbp` |", "| `sbp_x` |"), "utf-8")
    code, _, err = run("docs", str(RULES), "--out", str(out_dir), "--check")
    assert code == 1 and f"stale: {facts}" in err and "hypertension.md" not in err
    facts.unlink()
    code, _, err = run("docs", str(RULES), "--out", str(out_dir), "--check")
    assert code == 1 and "facts.md" in err  # missing counts as stale
    other = tmp_path / "elsewhere" / "dictionary.md"
    code, out, _ = run("docs", str(RULES), "--out", str(out_dir), "--facts", str(other))
    assert code == 0 and f"wrote {other}" in out and not facts.exists()
    assert "](../docs/rulesets/chest_pain.md)" in other.read_text("utf-8")
