"""The local batch run: output contract, bad rows, CSV casting, mapping, restart, CLI."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]
import pytest

from referral_rules import Bundle, Engine, FactsError, RulesetError, __version__
from referral_rules.batch import BatchOptions, BatchUsageError, run_batch
from referral_rules.batch.columns import OUTPUT_NAMES, plan_columns, read_cells
from referral_rules.batch.population import population_table
from referral_rules.batch.screen import (
    DECISION_FIELDS,
    Screener,
    _columns,
    _dump,
    output_schema,
    ruleset_refs,
)
from referral_rules.batch.source import ROW_ERROR, exact_chunks
from referral_rules.batch.transfer import lookup, normalise
from referral_rules.cli import main

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rulesets"
DECISION = ("direction", "urgency", "current_level", "target_level", "fired", "criteria",
            "records", "refusal", "missing_facts", "confirm_before_transfer",
            "possible_emergencies", "complete", "checks_outstanding")
NOT_FACTS = ("patient_id", "conditions", "actual_transfer")


def expected(engine: Engine, facts: dict[str, Any], conditions: list[str] | None
             ) -> dict[str, Any]:
    """The decision columns, read from the library's own JSON (an independent path)."""
    d = json.loads(engine.evaluate(facts, conditions).to_json())
    return {
        "direction": d["direction"], "urgency": d["urgency"],
        "current_level": d["current_level"], "target_level": d["target_level"],
        "fired": [f["id"] for f in d["fired"]],
        "criteria": sorted({f["criterion"] for f in d["fired"] if f["criterion"]}),
        "records": [r["id"] for r in d["records"]], "refusal": d["refusal"]["status"],
        "missing_facts": [m["fact"] for m in d["missing_facts"]],
        "confirm_before_transfer": [m["fact"] for m in d["confirm_before_transfer"]],
        "possible_emergencies": [e["rule"] for e in d["possible_emergencies"]],
        "complete": d["complete"],
        "checks_outstanding": any(r["code"] == "down_checks_outstanding" for r in d["reasons"]),
    }


def issues_of(engine: Engine, facts: dict[str, Any]) -> list[dict[str, object]]:
    with pytest.raises(FactsError) as info:
        engine.validate(facts)
    return [i.to_dict() for i in info.value.issues]


Run = Callable[..., tuple[pa.Table, str]]


@pytest.fixture()
def run(tmp_path: Path, bundle: Bundle) -> Run:
    """Write an input, screen it in this process, return the output table and stderr."""

    def go(table_or_text: pa.Table | str, name: str = "in.parquet", **options: Any
           ) -> tuple[pa.Table, str]:
        source = tmp_path / name
        if isinstance(table_or_text, str):
            source.write_text(table_or_text, encoding="utf-8")
        else:
            pq.write_table(table_or_text, source)
        output = tmp_path / (name + ".out.parquet")
        err = io.StringIO()
        options.setdefault("workers", 1)
        run_batch(BatchOptions(source, output, rules=bundle, progress=False, **options), err)
        return pq.read_table(output), err.getvalue()

    return go


@pytest.fixture(scope="module")
def population(bundle: Bundle) -> pa.Table:
    return population_table(3_000, seed=5, rules=bundle)


@pytest.fixture(scope="module")
def pop_file(tmp_path_factory: pytest.TempPathFactory, population: pa.Table) -> Path:
    path = tmp_path_factory.mktemp("pop") / "population.parquet"
    pq.write_table(population, path)
    return path


@pytest.fixture(scope="module")
def durable_out(tmp_path_factory: pytest.TempPathFactory, pop_file: Path) -> pa.Table:
    """The population screened on two worker processes with durable_rules."""
    out = tmp_path_factory.mktemp("durable") / "out.parquet"
    run_batch(BatchOptions(pop_file, out, rules=RULES, backend="durable", workers=2,
                           chunk_rows=700, progress=False), io.StringIO())
    return pq.read_table(out)


def test_batch_rows_match_engine_evaluate(durable: Engine, population: pa.Table,
                                         durable_out: pa.Table) -> None:
    """Every row, in order: ok rows carry the library's decision, bad rows its issues."""
    assert durable_out.num_rows == population.num_rows
    assert durable_out.column("row").to_pylist() == list(range(population.num_rows))
    assert durable_out.column("patient_id").equals(population.column("patient_id"))
    failed = 0
    for row, out in zip(population.to_pylist(), durable_out.to_pylist(), strict=True):
        facts = {k: v for k, v in row.items() if k not in NOT_FACTS and v is not None}
        conditions = row["conditions"].split(",")
        assert out["conditions"] == [c for c in durable.conditions if c in conditions]
        try:
            want = expected(durable, facts, conditions)
        except FactsError as exc:
            failed += 1
            assert out["ok"] is False
            assert json.loads(out["error"]) == [i.to_dict() for i in exc.issues]
            assert all(out[k] is None for k in DECISION)
            continue
        assert out["ok"] is True and out["error"] is None
        assert {k: out[k] for k in DECISION} == want
    assert failed > 0  # the population has deliberate bad values: the error path ran


def test_batch_durable_equals_python(tmp_path: Path, bundle: Bundle, pop_file: Path,
                                     durable_out: pa.Table) -> None:
    """Both backends give the same rows (the python run is in-process, durable on 2 workers)."""
    out = tmp_path / "python.parquet"
    run_batch(BatchOptions(pop_file, out, rules=bundle, backend="python", workers=1,
                           chunk_rows=700, progress=False), io.StringIO())
    python_out = pq.read_table(out)
    assert python_out.schema.metadata[b"referral_rules.backend"] == b"python"
    assert durable_out.schema.metadata[b"referral_rules.backend"] == b"durable"
    assert python_out.equals(durable_out.replace_schema_metadata(python_out.schema.metadata))


def test_batch_metadata(bundle: Bundle, durable_out: pa.Table) -> None:
    meta = {k.decode(): v.decode() for k, v in durable_out.schema.metadata.items()}
    assert json.loads(meta["referral_rules.rulesets"]) == ruleset_refs(bundle)
    assert [r["id"] for r in ruleset_refs(bundle)] == ["facts", "policy", *bundle.rulesets]
    assert meta["referral_rules.version"] == __version__
    assert meta["referral_rules.input"] == "population.parquet"
    assert meta["referral_rules.rows"] == "3000"
    assert meta["referral_rules.engine"] == "local"
    assert json.loads(meta["referral_rules.id_columns"]) == ["patient_id"]
    assert json.loads(meta["referral_rules.unknown_columns"]) == []


def test_batch_output_schema(durable_out: pa.Table) -> None:
    s = durable_out.schema
    assert s.names == ["patient_id", "actual_transfer", "visit_type", "row", "ok", "error",
                       "conditions", *DECISION]
    lists = pa.list_(pa.string())
    assert [s.field(n).type for n in ("fired", "criteria", "records", "missing_facts",
                                      "confirm_before_transfer", "possible_emergencies",
                                      "conditions")] == [lists] * 7
    assert s.field("row").type == pa.int64() and not s.field("row").nullable
    assert s.field("ok").type == pa.bool_() and s.field("checks_outstanding").type == pa.bool_()
    assert s.names[3:] == list(OUTPUT_NAMES)  # what an id column may not be called


def test_batch_checklist_columns(durable_out: pa.Table) -> None:
    """checks_outstanding marks exactly the down rows with a checklist; the population has
    some, and rows with possible emergencies (so both columns are exercised)."""
    rows = [r for r in durable_out.to_pylist() if r["ok"]]
    assert sum(r["checks_outstanding"] for r in rows) > 0
    assert sum(bool(r["possible_emergencies"]) for r in rows) > 0
    for r in rows:
        assert r["checks_outstanding"] == (r["direction"] == "down"
                                           and bool(r["confirm_before_transfer"]))
        if r["direction"] != "down":
            assert r["confirm_before_transfer"] == []


def test_batch_bad_rows_come_out_with_their_error(run: Run, durable: Engine) -> None:
    """Out of range, not allowed, missing required, unknown condition, non-whole integer."""
    table = pa.table({
        "patient_id": ["a", "b", "c", "d", "e", "f", "g"],
        "care_level": ["primary", "primary", None, "primary", "primary", "secondary", "primary"],
        "sbp": [182.0, 1800.0, 150.0, 150.0, 150.0, float("nan"), 120.0],
        "age": [67.0, None, None, None, None, 70.0, 67.5],
        "visit_type": [None, None, None, "outpatient", None, "inpatient", None],
        "conditions": ["hypertension", "hypertension", None, None, "hypertension,diabetis",
                       "hypertension", None],
    })
    out, _ = run(table)
    assert out.num_rows == 7
    assert out.column("ok").to_pylist() == [True, False, False, False, False, True, False]
    errors: list[Any] = [json.loads(e) if e else None for e in out.column("error").to_pylist()]
    assert errors[1] == issues_of(durable, {"care_level": "primary", "sbp": 1800.0})
    assert errors[1][0]["code"] == "out-of-range"
    assert errors[2] == issues_of(durable, {"sbp": 150.0})
    assert errors[2][0]["code"] == "missing-required"
    assert [e["code"] for e in errors[3]] == ["not-allowed"]
    assert errors[4] == [{"fact": "conditions", "code": "unknown-condition", "message":
                          "unknown condition 'diabetis'; loaded: chest_pain, critical, "
                          "diabetes, hypertension, post_operative",
                          "suggestion": "did you mean 'diabetes'?"}]
    assert errors[6] == issues_of(durable, {"care_level": "primary", "sbp": 120.0, "age": 67.5})
    # NaN is an absent fact; 70.0 in an integer column is the whole number 70.
    row5 = out.slice(5, 1).to_pylist()[0]
    want = expected(durable, {"care_level": "secondary", "age": 70, "visit_type": "inpatient"},
                    ["hypertension"])
    assert {k: row5[k] for k in DECISION} == want
    assert out.column("conditions").to_pylist()[2] == list(durable.conditions)  # null: all
    assert out.column("conditions").to_pylist()[4] is None


CSV = """patient_id,care_level,sbp,dbp,age,severe_headache,sudden_speech_disorder,conditions,ward
000123,primary, 182 ,96,67.0,是,0,hypertension,A
000124,secondary,142/88,,,maybe,,hypertension,B
000125,tertiary,NaN,,,TRUE,false,,C
000126,primary,,,,否,1,"hypertension,diabetes",D
"""


def test_batch_csv_cells_are_cast_per_the_vocabulary(run: Run, durable: Engine) -> None:
    out, err = run(CSV, "in.csv")
    rows = out.to_pylist()
    assert out.column("patient_id").to_pylist() == ["000123", "000124", "000125", "000126"]
    assert out.schema.field("patient_id").type == pa.string()
    assert [r["ok"] for r in rows] == [True, False, True, True]
    cast = [
        ({"care_level": "primary", "sbp": 182.0, "dbp": 96.0, "age": 67,
          "severe_headache": True, "sudden_speech_disorder": False}, ["hypertension"]),
        None,
        ({"care_level": "tertiary", "severe_headache": True, "sudden_speech_disorder": False},
         None),
        ({"care_level": "primary", "severe_headache": False, "sudden_speech_disorder": True},
         ["hypertension", "diabetes"]),
    ]
    for row, case in zip(rows, cast, strict=True):
        if case is not None:
            assert {k: row[k] for k in DECISION} == expected(durable, *case)
    issues = json.loads(rows[1]["error"])
    assert [(i["fact"], i["code"]) for i in issues] == [("sbp", "wrong-type"),
                                                       ("severe_headache", "wrong-type")]
    assert "142/88" in issues[0]["message"] and "maybe" in issues[1]["message"]
    assert "ward" in err  # not a fact: reported once, ignored
    assert "ward" not in out.column_names
    meta = out.schema.metadata
    assert json.loads(meta[b"referral_rules.unknown_columns"]) == ["ward"]


def test_batch_column_mapping(tmp_path: Path, run: Run, durable: Engine) -> None:
    text = "编号,机构级别,收缩压,舒张压,病种\nx1,primary,182,96,hypertension\nx2,secondary,,,\n"
    mapping = tmp_path / "map.yaml"
    mapping.write_text("机构级别: care_level\n收缩压: sbp\n舒张压: dbp\n病种: conditions\n"
                       "体温: body_temperature\n", encoding="utf-8")
    out, err = run(text, "mapped.csv", columns=mapping, id_columns=("编号",))
    assert out.column("编号").to_pylist() == ["x1", "x2"]
    rows = out.to_pylist()
    assert {k: rows[0][k] for k in DECISION} == expected(
        durable, {"care_level": "primary", "sbp": 182.0, "dbp": 96.0}, ["hypertension"])
    assert {k: rows[1][k] for k in DECISION} == expected(durable, {"care_level": "secondary"},
                                                         None)
    assert "体温" in err  # a mapping entry that found no column is said
    assert json.loads(out.schema.metadata[b"referral_rules.column_mapping"]) == {
        "收缩压": "sbp", "机构级别": "care_level", "舒张压": "dbp"}


def test_batch_column_mapping_errors_are_located(tmp_path: Path, run: Run) -> None:
    mapping = tmp_path / "bad.yaml"
    mapping.write_text("收缩压: sbp\n舒张压: sbpp\n", encoding="utf-8")
    with pytest.raises(RulesetError) as info:
        run("收缩压,舒张压\n1,2\n", "x.csv", columns=mapping)
    (issue,) = info.value.issues
    assert (issue.line, issue.code, issue.suggestion) == (2, "unknown-fact",
                                                          "did you mean 'sbp'?")
    mapping.write_text("收缩压: sbp\n舒张压: sbp\n", encoding="utf-8")
    with pytest.raises(RulesetError, match="both map to 'sbp'"):
        run("收缩压,舒张压\n1,2\n", "x.csv", columns=mapping)


def test_batch_id_columns_are_carried_untouched(run: Run) -> None:
    ids = {
        "patient_id": pa.array(["007", "008", None], pa.string()),
        "visit_no": pa.array([3, 2, 1], pa.int32()),
        "admitted": pa.array([0, 86_400_000, None], pa.timestamp("ms")),
        "ward": pa.array(["A", "B", "A"]).dictionary_encode(),
    }
    table = pa.table({**ids, "care_level": ["primary", "tertiary", "bogus"]})
    out, _ = run(table, id_columns=tuple(ids))
    for name, column in ids.items():
        assert out.column(name).combine_chunks().equals(column), name
        assert out.schema.field(name).type == column.type
    assert out.column("ok").to_pylist() == [True, True, False]
    with pytest.raises(BatchUsageError, match="'bed' is not in the input"):
        run(table, id_columns=("bed",))
    with pytest.raises(BatchUsageError, match="both an id column and a fact"):
        run(table, id_columns=("care_level",))


def test_batch_conditions_column_as_lists(run: Run, durable: Engine) -> None:
    table = pa.table({
        "care_level": ["primary"] * 4,
        "sbp": [182.0] * 4,
        "severe_hyperglycaemia": [True] * 4,
        "conditions": pa.array([["hypertension"], ["hypertension", "diabetes"], None, []],
                               pa.list_(pa.string())),
    })
    out, _ = run(table)
    wanted = [["hypertension"], ["diabetes", "hypertension"], list(durable.conditions),
              list(durable.conditions)]
    assert out.column("conditions").to_pylist() == wanted
    facts = {"care_level": "primary", "sbp": 182.0, "severe_hyperglycaemia": True}
    named: list[list[str] | None] = [["hypertension"], ["hypertension", "diabetes"], None, None]
    for row, conditions, asked in zip(out.to_pylist(), wanted, named, strict=True):
        # no conditions named: every ruleset where its scope holds (the Engine's default)
        assert {k: row[k] for k in DECISION} == expected(durable, facts, asked)
        rulesets = {durable.bundle.rules[i].ruleset for i in range(len(durable.bundle.rules))
                    if durable.bundle.rules[i].id in row["fired"]}
        assert rulesets <= set(conditions)
    assert out.column("fired").to_pylist()[0] != out.column("fired").to_pylist()[1]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_batch_progress_bar_shows_counts_only(tmp_path: Path, pop_file: Path,
                                              bundle: Bundle) -> None:
    """On a terminal there is a progress bar; it shows row counts, never an identifier."""
    err = _Terminal()
    run_batch(BatchOptions(pop_file, tmp_path / "o.parquet", rules=bundle, workers=1,
                           chunk_rows=1000), err)
    text = err.getvalue()
    assert "screening" in text and "3.00k/3.00k" in text
    assert "SYN-" not in text
    quiet = _Terminal()
    run_batch(BatchOptions(pop_file, tmp_path / "p.parquet", rules=bundle, workers=1,
                           progress=False), quiet)
    assert quiet.getvalue() == ""


def test_exact_chunks_cut_rows_at_fixed_places() -> None:
    batches = [pa.record_batch({"x": list(range(a, b))}) for a, b in
               ((0, 3), (3, 4), (4, 11), (11, 11), (11, 12))]
    chunks = list(exact_chunks(iter(batches), 5))
    assert [c.column("x").to_pylist() for c in chunks] == [
        [0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11]]


def _batch_command(source: Path, output: Path) -> list[str]:
    return [sys.executable, "-m", "referral_rules", "batch", str(source), "-o", str(output),
            "--rules", str(RULES), "--workers", "1", "--chunk-rows", "300", "--no-progress"]


def test_batch_restarts_without_duplicates(tmp_path: Path, bundle: Bundle) -> None:
    """Kill a run mid-way, lose a part, rerun: the output is the clean run's, byte for byte."""
    source = tmp_path / "pop.parquet"
    pq.write_table(population_table(6_000, seed=8, rules=bundle), source)
    clean = tmp_path / "clean.parquet"
    run_batch(BatchOptions(source, clean, rules=bundle, workers=1, chunk_rows=300,
                           progress=False), io.StringIO())
    output = tmp_path / "out.parquet"
    parts = tmp_path / "out.parquet.parts"
    proc = subprocess.Popen(_batch_command(source, output), cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while len(list(parts.glob("part-*.arrow"))) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    done = sorted(parts.glob("part-*.arrow"))
    assert 3 <= len(done) < 20 and not output.exists()
    done[1].unlink()  # a lost part is redone; the others are kept
    err = io.StringIO()
    result = run_batch(BatchOptions(source, output, rules=bundle, workers=2, chunk_rows=300,
                                    progress=False), err)
    assert "resuming" in err.getvalue()
    assert result.parts_reused == len(done) - 1
    assert output.read_bytes() == clean.read_bytes()
    assert not parts.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clean.parquet", "out.parquet",
                                                         "pop.parquet"]  # nothing left over
    rows = pq.read_table(output, columns=["row"]).column("row").to_pylist()
    assert rows == list(range(6_000))


def test_batch_parts_of_other_options_are_not_reused(tmp_path: Path, pop_file: Path,
                                                    bundle: Bundle) -> None:
    output = tmp_path / "o.parquet"
    parts = tmp_path / "o.parquet.parts"
    parts.mkdir()
    (parts / "manifest.json").write_text('{"chunk_rows": 1}', encoding="utf-8")
    pq.write_table(pa.table({"x": [1]}), parts / "part-000000.parquet")
    err = io.StringIO()
    result = run_batch(BatchOptions(pop_file, output, rules=bundle, workers=1,
                                    chunk_rows=1500,
                                    progress=False), err)
    assert "starting afresh" in err.getvalue()
    assert result.parts_reused == 0 and result.rows == 3000


def test_cli_population_batch_and_report(tmp_path: Path) -> None:
    pop = tmp_path / "pop.parquet"
    out, err = io.StringIO(), io.StringIO()
    assert main(["population", "1500", "-o", str(pop), "--seed", "3", "--rules", str(RULES)],
                out, err) == 0
    assert pq.read_metadata(pop).num_rows == 1500
    output, report = tmp_path / "out.parquet", tmp_path / "report.html"
    code = main(["batch", str(pop), "-o", str(output), "--rules", str(RULES), "--no-progress",
                 "--workers", "1", "--backend", "python", "--report", str(report)], out, err)
    assert code == 0, err.getvalue()
    assert "screened 1,500 rows" in out.getvalue()
    assert pq.read_metadata(output).num_rows == 1500
    data = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert data["rows"]["total"] == 1500
    assert data["rows"]["ok"] + data["rows"]["failed"] == 1500
    assert report.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert "SYN-" not in out.getvalue() + err.getvalue()  # no identifiers in the output
    code = main(["batch", str(pop), "-o", str(output), "--rules", str(RULES),
                 "--id-column", "bed"], out, err)
    assert code == 2 and "'bed' is not in the input" in err.getvalue()
    assert main(["batch", str(tmp_path / "none.parquet"), "-o", str(output)], out, err) == 2
    assert main(["population", "5", "-o", str(tmp_path / "p.txt")], out, err) == 2


def test_local_batch_never_imports_pyspark() -> None:
    code = ("import sys, referral_rules.batch, referral_rules.batch.run, referral_rules.cli; "
            "sys.exit('pyspark' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def _ipc(batches: list[pa.RecordBatch]) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batches[0].schema) as writer:
        for b in batches:
            writer.write_batch(b)
    return bytes(sink.getvalue())


def _per_row(screener: Screener, batch: pa.RecordBatch, first: int) -> pa.RecordBatch:
    """The per-row path the batch had before evaluate_many: ``Engine.evaluate`` row by row, in
    order, with the same error handling (kept here as the reference)."""
    n, engine = batch.num_rows, screener.engine
    cells = read_cells(batch, screener.plan, engine.vocabulary)
    conditions = screener._parse_conditions(batch, n)
    unreadable = batch.column(ROW_ERROR).to_pylist()
    cols: dict[str, list[Any]] = {f.name: [] for f in DECISION_FIELDS[1:]}
    for i, record in enumerate(cells.records(0, n)):
        selected, cond_issue = conditions[i]
        values: tuple[Any, ...] | None = None
        if unreadable[i] is not None:
            error, listed = unreadable[i], None
        else:
            listed = None if cond_issue else list(selected or engine.conditions)
            issues: list[dict[str, object]] = [] if cond_issue is None else [cond_issue]
            issues += [b.to_dict() for b in cells.issues.get(i, [])]
            if issues:
                try:
                    engine.validate(record)
                except FactsError as exc:
                    issues += [x.to_dict() for x in exc.issues]
            else:
                try:
                    values = _columns(engine.evaluate(record, selected))
                except FactsError as exc:
                    issues += [x.to_dict() for x in exc.issues]
            error = None if values is not None else _dump(issues)
        cols["ok"].append(values is not None)
        cols["error"].append(error)
        cols["conditions"].append(listed)
        for f, value in zip(DECISION_FIELDS[4:], values or [None] * len(DECISION_FIELDS[4:]),
                            strict=True):
            cols[f.name].append(value)
    arrays = [batch.column(name) for name in screener.plan.ids]
    arrays += [normalise(batch.column(column), lookup({})) if name == "actual_transfer"
               else batch.column(column) for column, name in screener.plan.carried]
    arrays.append(pa.array(range(first, first + n), pa.int64()))
    arrays += [pa.array(cols[f.name], f.type) for f in DECISION_FIELDS[1:]]
    return pa.RecordBatch.from_arrays(arrays, schema=output_schema(batch.schema, screener.plan))


def test_screen_with_evaluate_many_is_the_per_row_output(bundle: Bundle) -> None:
    """20,000 rows screened with Engine.evaluate_many (grouped by the rulesets each row names)
    give the bytes of the per-row path (Engine.evaluate for each row, in order), errors included.

    The rows name different conditions, none (scope default), an unknown one; some cells cannot
    be cast, some rows fail validation, some are CSV lines that are not rows."""
    table = population_table(20_000, seed=11, rules=bundle)
    n = table.num_rows
    named = table.column("conditions").to_pylist()
    conditions = [None if i % 5 == 0 else "hypertension,diabetis" if i % 997 == 0 else c
                  for i, c in enumerate(named)]
    sbp = [None if v is None else "142/88" if i % 811 == 0 else str(v)
           for i, v in enumerate(table.column("sbp").to_pylist())]
    table = table.set_column(table.schema.get_field_index("conditions"), "conditions",
                             pa.array(conditions, pa.string()))
    table = table.set_column(table.schema.get_field_index("sbp"), "sbp", pa.array(sbp))
    plan = plan_columns(table.column_names, bundle.vocabulary)
    broken = [json.dumps([{"code": "bad-row", "row": i}]) if i % 1499 == 0 else None
              for i in range(n)]
    table = table.append_column(ROW_ERROR, pa.array(broken, pa.string()))
    chunks = table.to_batches(max_chunksize=5_000)
    offsets = [sum(len(c) for c in chunks[:k]) for k in range(len(chunks))]
    screener = Screener(bundle, "durable", plan)
    calls: list[tuple[str, ...] | None] = []
    many = screener.engine.evaluate_many

    def counted(records: Any, conditions: Any = None, **kw: Any) -> Any:
        calls.append(None if conditions is None else tuple(conditions))
        return many(records, conditions, **kw)

    screener.engine.evaluate_many = counted  # type: ignore[method-assign]
    try:
        grouped = [screener.screen(c, o) for c, o in zip(chunks, offsets, strict=True)]
        single = [_per_row(screener, c, o) for c, o in zip(chunks, offsets, strict=True)]
    finally:
        screener.close()
    assert None in calls and len(set(calls)) > 5  # scope default and many condition groups
    assert _ipc(grouped) == _ipc(single)
    out = pa.Table.from_batches(grouped)
    assert out.column("row").to_pylist() == list(range(n))
    errors = [json.loads(e) for e in out.column("error").to_pylist() if e]
    codes = {i["code"] for e in errors for i in e}
    assert {"bad-row", "unknown-condition", "wrong-type", "out-of-range"} <= codes
    assert sum(out.column("ok").to_pylist()) > 0.9 * n
