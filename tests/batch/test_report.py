"""The indicators report, on a batch output built here with the Engine (not the batch runner).

The output table follows the batch output schema: carried-through columns, then row, ok, error,
conditions, direction, urgency, current_level, target_level, fired, criteria, records, refusal,
missing_facts, confirm_before_transfer, possible_emergencies, complete, checks_outstanding. Every
figure is checked against a count made here.
"""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]
import pytest

from referral_rules import Bundle, Engine, FactsError
from referral_rules.batch import BatchOptions, run_batch
from referral_rules.batch.population import population_table
from referral_rules.batch.report import REPORT_COLUMNS, Report, build_report
from referral_rules.batch.report_html import CHART_IDS

SEED002 = Path(__file__).resolve().parents[3] / "shared" / "seeds" / "002_6876a39a3ce6a95e.txt"
LIST = pa.list_(pa.string())
DECISION_FIELDS = [
    ("row", pa.int64()), ("ok", pa.bool_()), ("error", pa.string()), ("conditions", LIST),
    ("direction", pa.string()), ("urgency", pa.string()), ("current_level", pa.string()),
    ("target_level", pa.string()), ("fired", LIST), ("criteria", LIST), ("records", LIST),
    ("refusal", pa.string()), ("missing_facts", LIST), ("confirm_before_transfer", LIST),
    ("possible_emergencies", LIST), ("complete", pa.bool_()), ("checks_outstanding", pa.bool_()),
]
SCHEMA = pa.schema([("patient_id", pa.string()), ("actual_transfer", pa.string()),
                    ("visit_type", pa.string()), *DECISION_FIELDS])
CARRIED = ("patient_id", "conditions", "actual_transfer")
BAD = [  # hand-made rows that fail validation, besides the population's own bad values
    {"patient_id": "BAD-1", "conditions": "hypertension", "actual_transfer": "none",
     "care_level": "primary", "visit_type": "follow_up", "sbp": 1800.0, "dbp": 95.0},
    {"patient_id": "BAD-2", "conditions": "diabetes", "actual_transfer": "up",
     "care_level": None, "visit_type": "follow_up", "blood_glucose": 8.0},
    {"patient_id": "BAD-3", "conditions": "chest_pain", "actual_transfer": "none",
     "care_level": "secondary", "visit_type": "outpatient"},
]


def screen(rows: list[dict[str, Any]], python: Engine, durable: Engine) -> list[dict[str, Any]]:
    """What the batch writes for each row (the first 40 rows on durable_rules). Every third row
    names no conditions: every ruleset runs where its scope holds (the batch default)."""
    out = []
    for i, r in enumerate(rows):
        named = str(r["conditions"]).split(",") if i % 3 else None
        facts = {k: v for k, v in r.items() if k not in CARRIED and v is not None}
        row: dict[str, Any] = {"patient_id": r["patient_id"],
                               "actual_transfer": r["actual_transfer"],
                               "visit_type": r.get("visit_type"), "row": i,
                               "conditions": named or list(python.conditions)}
        try:
            d = (durable if i < 40 else python).evaluate(facts, named)
        except FactsError as exc:
            out.append({**row, "ok": False,
                        "error": json.dumps([x.to_dict() for x in exc.issues])})
            continue
        out.append({**row, "ok": True, "direction": d.direction, "urgency": d.urgency,
                    "current_level": d.current_level, "target_level": d.target_level,
                    "fired": list(d.fired_ids),
                    "criteria": sorted({f.criterion for f in d.fired if f.criterion}),
                    "records": list(d.record_ids), "refusal": d.refusal.status,
                    "missing_facts": [m.fact for m in d.missing_facts],
                    "confirm_before_transfer": [m.fact for m in d.confirm_before_transfer],
                    "possible_emergencies": [e.rule for e in d.possible_emergencies],
                    "complete": d.complete,
                    "checks_outstanding": any(x.code == "down_checks_outstanding"
                                              for x in d.reasons)})
    return out


def refs(bundle: Bundle) -> list[dict[str, str]]:
    return [{"id": "facts", "version": bundle.vocabulary.version,
             "sha256": bundle.vocabulary_sha256},
            {"id": "policy", "version": bundle.policy.spec.version,
             "sha256": bundle.policy.sha256},
            *({"id": rs.id, "version": rs.version, "sha256": rs.sha256}
              for rs in bundle.rulesets.values())]


@pytest.fixture(scope="module")
def rows(bundle: Bundle, python_engine: Engine, durable: Engine) -> list[dict[str, Any]]:
    patients = population_table(900, seed=21, rules=bundle).to_pylist() + BAD
    return screen(patients, python_engine, durable)


@pytest.fixture(scope="module")
def table(bundle: Bundle, rows: list[dict[str, Any]]) -> pa.Table:
    meta = {"rulesets": refs(bundle), "backend": "python", "version": "test",
            "input": "population.parquet", "rows": len(rows)}
    return pa.Table.from_pylist(rows, schema=SCHEMA).replace_schema_metadata(
        {"referral_rules": json.dumps(meta)})


@pytest.fixture(scope="module")
def report(bundle: Bundle, table: pa.Table) -> Report:
    return build_report(table, bundle)


@pytest.fixture(scope="module")
def data(report: Report) -> dict[str, Any]:
    return report.to_dict()


@pytest.fixture(scope="module")
def page(report: Report) -> str:
    return report.to_html()


def _ok(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r["ok"]]


def _ward(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in _ok(rows) if r["visit_type"] == "inpatient"
            and r["current_level"] in ("secondary", "tertiary")]


def _met(bundle: Bundle, row: dict[str, Any]) -> set[str]:
    """The rulesets one of whose down-transfer rules fired for ``row``."""
    rules = {r.id: r for r in bundle.rules}
    return {rules[f].ruleset for f in row["fired"] if rules[f].direction == "down"}


def _advice(rows: list[dict[str, Any]]) -> dict[str, int]:
    """Rows (already meeting a down criterion) by what the rules advise, counted by hand."""
    down = [r for r in rows if r["direction"] == "down"]
    return {"advised_down": sum(not r["confirm_before_transfer"] for r in down),
            "checks_outstanding": sum(bool(r["confirm_before_transfer"]) for r in down),
            "stay": len(rows) - len(down)}


def test_report_columns_constant() -> None:
    """The batch carries these through: inpatient status and what actually happened."""
    assert REPORT_COLUMNS == ("visit_type", "actual_transfer")


def test_report_counts_add_up(data: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """rows = input rows = ok + failed, and every table that partitions the rows sums to it."""
    total, failed = len(rows), sum(not r["ok"] for r in rows)
    assert failed >= len(BAD)
    assert data["rows"]["total"] == total == data["rows"]["ok"] + data["rows"]["failed"]
    assert data["rows"]["failed"] == failed
    assert data["rows"]["complete"] + data["rows"]["incomplete"] == data["rows"]["ok"]
    assert sum(d["rows"] for d in data["direction"]) == total
    for table in ("by_level", "by_setting"):
        assert sum(r["rows"] for r in data[table]) == total, table
        for r in data[table]:
            assert r["rows"] == sum(r.get(k, 0) for k in ("up", "down", "stay", "failed"))
    hand = Counter(r["direction"] if r["ok"] else "failed" for r in rows)
    assert {d["direction"]: d["rows"] for d in data["direction"]} == {
        k: hand[k] for k in ("up", "down", "stay", "failed")}
    for r in data["by_condition"]:
        mine = [x for x in rows if r["key"] in x["conditions"]]
        assert r["rows"] == len(mine)
        assert r["up"] == sum(x["ok"] and x["direction"] == "up" for x in mine)
    assert data["source"]["rows_match_metadata"] is True


def test_report_rates_match_a_hand_count(bundle: Bundle, data: dict[str, Any],
                                         rows: list[dict[str, Any]]) -> None:
    """Inpatients meeting a down criterion, what the rules advise for them, and the seed 002
    rates, counted by hand."""
    ward = _ward(rows)
    met = [r for r in ward if _met(bundle, r)]
    ip = data["inpatients"]
    assert ip["rows"] == len(ward) > 0 and ip["met"] == len(met) > 0
    assert ip["met_share"] == round(len(met) / len(ward), 4)
    advice = _advice(met)
    assert {k: ip[k] for k in advice} == advice
    assert all(advice.values())  # each category occurs in this population
    assert sum(advice.values()) == ip["met"]
    for key, n in advice.items():
        assert ip[f"{key}_share"] == round(n / len(ward), 4)
    assert ip["stay_up"] == sum(r["direction"] == "up" for r in met)
    assert ip["inpatients_at_primary"] == sum(
        r["visit_type"] == "inpatient" and r["current_level"] == "primary" for r in _ok(rows))
    for level in ip["by_level"]:
        mine = [r for r in met if r["current_level"] == level["key"]]
        assert level["rows"] == sum(r["current_level"] == level["key"] for r in ward)
        assert (level["met"], {k: level[k] for k in advice}) == (len(mine), _advice(mine))
    down = data["targets"]["down_transfer"]
    moved = [r for r in met if r["actual_transfer"] == "down"]
    done = len(moved)
    assert (down["met"], down["transferred"]) == (len(met), done)
    assert down["transferred_by_advice"] == _advice(moved)
    assert down["rate"] == round(done / len(met), 4)
    other = sum(r["actual_transfer"] == "down" and not _met(bundle, r) for r in ward)
    assert down["transferred_not_met"] == other > 0
    assert down["clause_ratio"] == round((done + other) / len(met), 4)
    advised = advice["advised_down"] + advice["checks_outstanding"]
    assert (down["rules_down"], down["rules_rate"]) == (advised, round(advised / len(met), 4))
    assert down["targets_met"] == [{"year": 2017, "met": done / len(met) >= 0.2},
                                   {"year": 2020, "met": done / len(met) >= 0.5}]
    for cap in data["targets"]["up_referral"]["caps"]:
        level = [r for r in _ok(rows) if r["current_level"] == cap["level"]]
        up = sum(r["actual_transfer"] == "up" for r in level)
        assert (cap["rows"], cap["referred"]) == (len(level), up)
        assert cap["rate"] == round(up / len(level), 4)
        assert cap["rules_up"] == sum(r["direction"] == "up" for r in level)
    clinic = [r for r in _ok(rows) if r["visit_type"] in ("first_visit", "follow_up")
              and r["current_level"] in ("secondary", "tertiary")]
    clinic_down = data["targets"]["outpatient_down"]
    assert clinic_down["rows"] == len(clinic)
    assert clinic_down["transferred"] == sum(r["actual_transfer"] == "down" for r in clinic)
    assert clinic_down["rules_down"] == sum(r["direction"] == "down" for r in clinic)


def test_report_inpatient_advice_by_condition(bundle: Bundle, data: dict[str, Any],
                                              rows: list[dict[str, Any]]) -> None:
    """Per condition: inpatients evaluated for it, those meeting one of its down criteria, and
    the advice for them; only conditions that have a down criterion are listed."""
    ward = _ward(rows)
    with_down = [k for k in bundle.rulesets
                 if any(r.ruleset == k and r.direction == "down" for r in bundle.rules)]
    by = data["inpatients"]["by_condition"]
    assert [c["key"] for c in by] == with_down and "critical" not in with_down
    for c in by:
        mine = [r for r in ward if c["key"] in r["conditions"]]
        met = [r for r in mine if c["key"] in _met(bundle, r)]
        assert (c["rows"], c["met"]) == (len(mine), len(met)), c["key"]
        assert {k: c[k] for k in ("advised_down", "checks_outstanding", "stay")} == \
            _advice(met), c["key"]
        assert c["label"] == bundle.rulesets[c["key"]].title.model_dump()
    assert sum(c["checks_outstanding"] for c in by) > 0


def test_report_possible_emergencies(bundle: Bundle, data: dict[str, Any],
                                     rows: list[dict[str, Any]]) -> None:
    """Rows with an emergency criterion left open by unrecorded facts, by direction and by
    rule (with its title)."""
    ok = _ok(rows)
    open_ = [r for r in ok if r["possible_emergencies"]]
    p = data["possible_emergencies"]
    assert p["rows"] == len(open_) > 0
    assert p["share"] == round(len(open_) / len(ok), 4)
    assert p["by_direction"] == {d: sum(r["direction"] == d for r in open_)
                                 for d in ("up", "down", "stay")}
    counts = Counter(e for r in ok for e in r["possible_emergencies"])
    assert [(x["rule"], x["rows"]) for x in p["top_rules"]] == sorted(
        counts.items(), key=lambda kv: (-kv[1], kv[0]))[:len(p["top_rules"])]
    titles = {r.id: r.title.model_dump() for r in bundle.rules}
    assert all(x["title"] == titles[x["rule"]] for x in p["top_rules"])


def test_report_targets_cite_seed_002(data: dict[str, Any]) -> None:
    """Each target cites the policy document by its title and clause and quotes it (verbatim,
    when the seed text is at hand); no project file name appears."""
    t = data["targets"]
    down, up = t["down_transfer"]["citation"], t["up_referral"]["citation"]
    assert (down["clause"], up["clause"]) == ("二（四）1", "二（四）4")
    assert "林政办规〔2017〕11号" in down["title"] and "Linkou County" in down["title_en"]
    assert set(down) == {"title", "title_en", "clause", "quote"}
    assert [g["value"] for g in t["down_transfer"]["targets"]] == [0.2, 0.5]
    assert [(c["level"], c["value"]) for c in t["up_referral"]["caps"]] == [
        ("secondary", 0.2), ("primary", 0.3)]
    if SEED002.exists():
        text = re.sub(r"\s", "", SEED002.read_text(encoding="utf-8"))
        for cite in (down, up, t["outpatient_down"]["citation"]):
            assert cite["quote"] in text


def test_report_top_criteria_and_missing_facts(bundle: Bundle, data: dict[str, Any],
                                               rows: list[dict[str, Any]]) -> None:
    """Most frequent rules (with zh/en titles) and missing facts (with zh/en labels)."""
    fired = Counter(f for r in _ok(rows) for f in r["fired"])
    top = data["top_criteria"]
    assert [(c["rule"], c["rows"]) for c in top] == sorted(
        fired.items(), key=lambda kv: (-kv[1], kv[0]))[:len(top)]
    titles = {r.id: r.title for r in bundle.rules}
    for c in top:
        assert c["title"] == titles[c["rule"]].model_dump()
    missing = Counter(f for r in _ok(rows) for f in r["missing_facts"])
    for m in data["top_missing_facts"]:
        assert m["rows"] == missing[m["fact"]]
        spec = bundle.vocabulary.facts[m["fact"]]
        assert m["label"] == {"zh": spec.zh, "en": spec.en}


def test_report_failures(data: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """Failed rows with their most common issue codes and facts."""
    codes: Counter[str] = Counter()
    for r in rows:
        if not r["ok"]:
            codes.update({i["code"] for i in json.loads(r["error"])})
    f = data["failures"]
    assert {c["code"]: c["rows"] for c in f["codes"]} == dict(codes)
    assert {"out-of-range", "missing-required", "not-allowed"} <= set(codes)
    sbp = next(x for x in f["facts"] if (x["fact"], x["code"]) == ("sbp", "out-of-range"))
    assert sbp["label"] == {"zh": "收缩压", "en": "Systolic blood pressure"}


def test_report_json_is_deterministic(bundle: Bundle, table: pa.Table, report: Report,
                                      tmp_path: Path) -> None:
    """Same input, same bytes, from a table or from the Parquet file."""
    path = tmp_path / "out.parquet"
    pq.write_table(table, path)
    again = build_report(path, bundle)
    assert again.to_json() == report.to_json()
    report.write_json(tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text(encoding="utf-8")) == report.to_dict()


def test_report_html_is_self_contained_and_bilingual(page: str, report: Report,
                                                     data: dict[str, Any]) -> None:
    """One offline page: plotly inlined, a div per chart, zh and en, the numbers, the clauses,
    the rulesets' sha256, the disclaimer, and no patient identifiers."""
    assert page.startswith("<!DOCTYPE html>") and '<html lang="zh-CN">' in page
    assert '<meta charset="utf-8">' in page
    assert "<script src" not in page and "Plotly.newPlot" in page and len(page) > 3_000_000
    for div in CHART_IDS:
        assert f'id="{div}"' in page
    for text in ("上转", "Up", "下转", "Down", "二（四）1", "二（四）4", "林政办规〔2017〕11号",
                 data["disclaimer"]["zh"], data["disclaimer"]["en"].replace("'", "&#x27;")):
        assert text in page, text
    assert f'{data["rows"]["total"]:,}' in page and f'{data["rows"]["failed"]:,}' in page
    assert f'{data["targets"]["down_transfer"]["met"]:,}' in page
    ip = data["inpatients"]
    for text in ("建议下转，待核对", "Advised down, checks outstanding", "Possible emergencies",
                 f'{ip["met"]:,}', f'{ip["checks_outstanding"]:,}',
                 f'{data["possible_emergencies"]["rows"]:,}'):
        assert text in page, text
    assert "withheld" not in page.lower() and "暂缓" not in page
    assert "withheld" not in report.to_json()
    for ref in data["source"]["rulesets"]:
        assert ref["sha256"] in page
    assert "SYN-" not in page and "BAD-1" not in page
    assert "SYN-" not in report.to_json()
    assert report.to_html() == page


def test_report_without_optional_columns(bundle: Bundle, table: pa.Table) -> None:
    """Without visit_type or actual_transfer the report says what it cannot compute."""
    bare = table.drop_columns(["visit_type", "actual_transfer"])
    data = build_report(bare, bundle).to_dict()
    assert data["inpatients"] == {"available": False, "needs_column": "visit_type"}
    assert data["targets"] == {"available": False, "needs_column": "actual_transfer"}
    assert data["rows"]["total"] == table.num_rows
    assert "actual_transfer" in build_report(bare, bundle).to_html()


def test_report_of_an_empty_output(bundle: Bundle, table: pa.Table) -> None:
    """No rows: zero counts, no rates, and a page that says "no data" instead of drawing empty
    axes (plotly's default axis for no data runs from -100% to 400%)."""
    report = build_report(table.slice(0, 0), bundle)
    data = report.to_dict()
    assert data["rows"] == {"total": 0, "ok": 0, "failed": 0, "complete": 0, "incomplete": 0}
    assert data["inpatients"]["rows"] == data["inpatients"]["met"] == 0
    assert data["inpatients"]["met_share"] is None
    assert data["inpatients"]["checks_outstanding_share"] is None
    assert data["possible_emergencies"]["rows"] == 0
    assert data["possible_emergencies"]["share"] is None and data["targets"] == {
        "available": False, "needs_column": "actual_transfer"}
    page = report.to_html()
    assert not [d for d in CHART_IDS if f'id="{d}"' in page]
    assert page.count("No data") >= 5 and "无数据" in page


def test_report_zero_denominators_draw_no_fake_axis(bundle: Bundle, table: pa.Table) -> None:
    """Rows, but none at secondary level and no inpatients: those rates are "no data", and the
    rate axis that is drawn starts at 0 and ends near the largest value."""
    keep = pa.compute.and_(pa.compute.equal(table["current_level"], "primary"),
                           pa.compute.not_equal(table["visit_type"], "inpatient"))
    primary = table.filter(keep)
    page = build_report(primary, bundle).to_html()
    assert 'id="chart-inpatients"' not in page and "there are no inpatients" in page
    axes = re.findall(r'"yaxis":\{[^{}]*"range":\[([^\]]*)\]', page)
    assert axes, "the rate axis has an explicit range"
    for axis in axes:
        low, high = (float(v) for v in axis.split(","))
        assert low == 0 and 0 < high <= 1.0
    assert "No data" in page  # the secondary level's rate, whose denominator is 0


def test_report_shows_input_problems(bundle: Bundle, table: pa.Table) -> None:
    """Columns not read (with their did-you-mean) and actual_transfer values not understood,
    from the batch's metadata."""
    transfer = {"column": "实际转诊", "up": 5, "down": 3, "none": 10, "blank": 1,
                "unknown_rows": 4, "unknown_values": [{"value": "转县医院", "rows": 4}],
                "unknown_other_values": 0}
    meta = {b"referral_rules.unknown_columns": json.dumps(["spb", "ward"]).encode(),
            b"referral_rules.column_suggestions": json.dumps({"spb": "the fact 'sbp'"}).encode(),
            b"referral_rules.actual_transfer": json.dumps(transfer).encode()}
    report = build_report(table.replace_schema_metadata(meta), bundle)
    src = report.to_dict()["source"]
    assert src["unknown_columns"] == [{"column": "spb", "suggestion": "the fact 'sbp'"},
                                      {"column": "ward", "suggestion": None}]
    assert src["actual_transfer"] == transfer
    page = report.to_html()
    assert "did you mean the fact &#x27;sbp&#x27;?" in page
    assert "转县医院" in page and "Not understood" in page


def test_report_reads_per_key_metadata(bundle: Bundle, table: pa.Table) -> None:
    """Metadata as ``referral_rules.<name>`` keys also works; other rulesets are flagged."""
    other = [dict(r, sha256="0" * 64) if r["id"] == "diabetes" else r for r in refs(bundle)]
    meta = {b"referral_rules.rulesets": json.dumps(other).encode(),
            b"referral_rules.rows": str(table.num_rows).encode(),
            b"referral_rules.backend": b"durable"}
    source = build_report(table.replace_schema_metadata(meta), bundle).to_dict()["source"]
    assert source["backend"] == "durable" and source["rows_match_metadata"] is True
    assert source["labels_from_same_rulesets"] is False


DISCHARGE_READY = {  # a sparse record: what an HIS holds for a man 6 days after a knee
    "care_level": "tertiary", "visit_type": "inpatient", "sex": "male",  # replacement
    "post_operative": True, "days_since_surgery": 6, "body_temperature": 36.8, "sbp": 128.0,
    "dbp": 78.0, "self_care_basic": True, "tolerating_semi_liquid_diet": True,
    "flatus_and_stool_passed": True, "wound_healing_well": True, "walking_freely": True,
    "oral_analgesia_effective": True}


def test_report_counts_a_checklist_down_transfer_as_checks_outstanding(
        tmp_path: Path, bundle: Bundle, python_engine: Engine) -> None:
    """Regression (issue 10): a down-transfer whose criterion holds on the recorded facts,
    with unrecorded facts to confirm, is "advised down, checks outstanding", not stay (it
    used to be a withheld stay). Screened by the batch itself, then reported."""
    checked = {"infection_signs": False, "iv_fluids_needed": False, "wound_dehiscence": False,
               "wound_infection": False}
    records = [DISCHARGE_READY,  # down, with a checklist
               {**DISCHARGE_READY, **checked},  # down, nothing to confirm
               {**DISCHARGE_READY, "wound_infection": True}]  # a recorded blocker: stay
    decisions = [python_engine.evaluate(r) for r in records]
    assert [d.direction for d in decisions] == ["down", "down", "stay"]
    assert [bool(d.confirm_before_transfer) for d in decisions] == [True, False, False]
    assert all("PO-D1-ERAS" in d.fired_ids for d in decisions)
    facts = sorted({k for r in records for k in r})
    table = pa.table({"patient_id": ["p1", "p2", "p3"], "actual_transfer": ["down"] * 3,
                      **{k: [r.get(k) for r in records] for k in facts}})
    source, output = tmp_path / "ward.parquet", tmp_path / "out.parquet"
    pq.write_table(table, source)
    run_batch(BatchOptions(source, output, rules=bundle, backend="python", workers=1,
                           progress=False), io.StringIO())
    out = pq.read_table(output)
    assert out.column("checks_outstanding").to_pylist() == [True, False, False]
    assert out.column("confirm_before_transfer").to_pylist()[0] == [
        m.fact for m in decisions[0].confirm_before_transfer]
    report = build_report(output, bundle)
    ip = report.to_dict()["inpatients"]
    want = {"rows": 3, "met": 3, "advised_down": 1, "checks_outstanding": 1, "stay": 1,
            "stay_up": 0}
    assert {k: ip[k] for k in want} == want
    (post_op,) = [c for c in ip["by_condition"] if c["key"] == "post_operative"]
    assert {k: post_op[k] for k in want} == want
    down = report.to_dict()["targets"]["down_transfer"]
    assert (down["met"], down["transferred"], down["rules_down"]) == (3, 3, 2)
    assert down["transferred_by_advice"] == {"advised_down": 1, "checks_outstanding": 1,
                                             "stay": 1}
