"""Messy and hostile input files (issue 11, items 12-17): each fails before its fix."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.csv as pacsv  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]
import pytest

from referral_rules import Bundle, RulesetError
from referral_rules.batch import BatchOptions, run_batch
from referral_rules.batch.errors import BatchInputError, BatchRejected, BatchUsageError
from referral_rules.batch.population import population_table
from referral_rules.cli import main

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rulesets"


def _run(tmp_path: Path, bundle: Bundle, source: Path, **options: Any) -> tuple[pa.Table, str]:
    output = tmp_path / (source.name + ".out.parquet")
    err = io.StringIO()
    options.setdefault("workers", 1)
    run_batch(BatchOptions(source, output, rules=bundle, progress=False, **options), err)
    return pq.read_table(output), err.getvalue()


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


# --- item 12: actual_transfer as an HIS export writes it ----------------------------------

TRANSFERS = "patient_id,care_level,actual_transfer\n" + "".join(
    f"p{i},secondary,{v}\n" for i, v in enumerate(
        ["UP", "Down", " 上转 ", "下转", "未转", "向上转诊", "转回基层", "none", "", "转县医院",
         "UPP"]))


def test_actual_transfer_synonyms_are_read_and_unknown_values_shown(tmp_path: Path,
                                                                    bundle: Bundle) -> None:
    source = tmp_path / "his.csv"
    source.write_text(TRANSFERS, encoding="utf-8")
    out, err = _run(tmp_path, bundle, source)
    assert out.column("actual_transfer").to_pylist() == [
        "up", "down", "up", "down", "none", "up", "down", "none", None, None, None]
    assert "'UPP' (1)" in err and "'转县医院' (1)" in err and "not up, down or none" in err
    meta = json.loads(out.schema.metadata[b"referral_rules.actual_transfer"])
    assert (meta["up"], meta["down"], meta["none"], meta["blank"], meta["unknown_rows"]) == \
        (3, 3, 2, 1, 2)
    assert {u["value"] for u in meta["unknown_values"]} == {"UPP", "转县医院"}


def test_actual_transfer_values_from_the_mapping_and_strict(tmp_path: Path,
                                                            bundle: Bundle) -> None:
    source = tmp_path / "his.csv"
    source.write_text(TRANSFERS, encoding="utf-8")
    mapping = tmp_path / "map.yaml"
    mapping.write_text("actual_transfer:\n  fact: actual_transfer\n"
                       "  values: {转县医院: up, upp: up}\n", encoding="utf-8")
    with pytest.raises(BatchRejected, match="'UPP'"):
        _run(tmp_path, bundle, source, strict=True)
    assert not (tmp_path / "his.csv.out.parquet.parts").exists()  # rejected before screening
    out, err = _run(tmp_path, bundle, source, columns=mapping, strict=True)
    assert out.column("actual_transfer").to_pylist()[-2:] == ["up", "up"]
    assert "not up, down or none" not in err
    mapping.write_text("actual_transfer:\n  fact: actual_transfer\n  values: {x: upp}\n",
                       encoding="utf-8")
    with pytest.raises(RulesetError) as info:
        _run(tmp_path, bundle, source, columns=mapping)
    (issue,) = info.value.issues
    assert (issue.line, issue.code, issue.suggestion) == (3, "unknown-value",
                                                          "did you mean 'up'?")


def test_report_counts_transfers_written_in_chinese(tmp_path: Path, bundle: Bundle) -> None:
    """The issue's case: 上转/下转/未转 gave 0% where the true figure was not 0."""
    table = population_table(2_000, seed=3, rules=bundle)
    words = {"up": "上转", "down": "下转", "none": "未转"}
    chinese = pa.array([words[v] for v in table.column("actual_transfer").to_pylist()])
    source = tmp_path / "zh.parquet"
    pq.write_table(table.set_column(2, "actual_transfer", chinese), source)
    english = tmp_path / "en.parquet"
    pq.write_table(table, english)
    zh, _ = _run(tmp_path, bundle, source)
    en, _ = _run(tmp_path, bundle, english)
    assert zh.column("actual_transfer").equals(en.column("actual_transfer"))
    assert zh.column("actual_transfer").to_pylist().count("down") > 0


# --- item 13: a short line, a file cut mid-row ---------------------------------------------

@pytest.fixture(scope="module")
def population_csv(tmp_path_factory: pytest.TempPathFactory, bundle: Bundle) -> Path:
    path = tmp_path_factory.mktemp("csv") / "pop.csv"
    with pacsv.CSVWriter(str(path), population_table(3_000, seed=4, rules=bundle).schema) as w:
        w.write_table(population_table(3_000, seed=4, rules=bundle))
    return path


def test_a_short_line_is_that_rows_error(tmp_path: Path, bundle: Bundle,
                                          population_csv: Path) -> None:
    lines = population_csv.read_text(encoding="utf-8").split("\n")
    victim = lines[1001]  # data row 1000, line 1002 of the file
    patient = victim.split(",")[0].strip('"')
    lines[1001] = ",".join(victim.split(",")[:10])
    source = tmp_path / "short.csv"
    source.write_text("\n".join(lines), encoding="utf-8")
    out, err = _run(tmp_path, bundle, source, chunk_rows=700)
    clean, _ = _run(tmp_path, bundle, population_csv, chunk_rows=700)
    assert out.num_rows == 3_000 and out.column("row").to_pylist() == list(range(3_000))
    bad = out.slice(1000, 1).to_pylist()[0]
    assert bad["ok"] is False and bad["patient_id"] is None and bad["direction"] is None
    (issue,) = json.loads(bad["error"])
    assert issue["code"] == "bad-row" and "line 1002" in issue["message"]
    header = len(lines[0].split(","))  # one column per fact: grows with the vocabulary
    assert header > 100 and f"fields where the header has {header}" in issue["message"]
    assert patient not in bad["error"] and patient not in err
    keep = [i for i in range(3_000) if i != 1000]
    assert out.take(keep).drop_columns(["error"]).equals(
        clean.take(keep).drop_columns(["error"]))  # every other row screened as before


def test_a_csv_cut_mid_row(tmp_path: Path, bundle: Bundle, population_csv: Path) -> None:
    data = population_csv.read_bytes()
    cut = data[: data.index(b"\n", len(data) // 2) + 40]
    source = tmp_path / "cut.csv"
    source.write_bytes(cut)
    out, _ = _run(tmp_path, bundle, source)
    rows = cut.count(b"\n")  # the header's line break is matched by the partial last row
    assert out.num_rows == rows
    last = out.slice(rows - 1, 1).to_pylist()[0]
    assert last["ok"] is False and "cut short" in last["error"]
    assert out.column("ok").to_pylist()[: rows - 1].count(True) > rows * 0.9


def test_cli_short_line_prints_no_traceback_and_no_values(tmp_path: Path,
                                                          population_csv: Path) -> None:
    lines = population_csv.read_text(encoding="utf-8").split("\n")
    lines[5] = lines[5][:30]
    source = tmp_path / "s.csv"
    source.write_text("\n".join(lines), encoding="utf-8")
    code, out, err = _cli("batch", str(source), "-o", str(tmp_path / "o.parquet"), "--rules",
                          str(RULES), "--workers", "1", "--no-progress", "--backend", "python")
    assert code == 0, err
    assert "Traceback" not in err and "SYN-" not in out + err
    assert "screened 3,000 rows" in out


# --- item 14: GBK from Excel ---------------------------------------------------------------

GBK = ("住院号,机构级别,就诊类型,收缩压,舒张压,病种,实际转诊\n"
       "Z001,secondary,inpatient,182,96,hypertension,上转\n"
       "Z002,secondary,inpatient,128,80,hypertension,下转\n"
       "Z003,primary,follow_up,,,hypertension,未转\n")
GBK_MAP = ("机构级别: care_level\n就诊类型: visit_type\n收缩压: sbp\n舒张压: dbp\n"
           "病种: conditions\n实际转诊: actual_transfer\n")


def test_gbk_csv_with_chinese_headers_is_read(tmp_path: Path, bundle: Bundle) -> None:
    source = tmp_path / "excel.csv"
    source.write_bytes(GBK.replace("\n", "\r\n").encode("gbk"))
    mapping = tmp_path / "map.yaml"
    mapping.write_text(GBK_MAP, encoding="utf-8")
    out, err = _run(tmp_path, bundle, source, columns=mapping, id_columns=("住院号",))
    assert out.column("住院号").to_pylist() == ["Z001", "Z002", "Z003"]
    assert out.column("actual_transfer").to_pylist() == ["up", "down", "none"]
    assert out.column("ok").to_pylist() == [True, True, True]
    assert "GB18030" in err
    utf8 = tmp_path / "utf8.csv"
    utf8.write_bytes(b"\xef\xbb\xbf" + GBK.encode("utf-8"))  # Excel's "CSV UTF-8": a BOM
    same, err8 = _run(tmp_path, bundle, utf8, columns=mapping, id_columns=("住院号",))
    assert same.drop_columns([]).equals(out) and "GB18030" not in err8


def test_encoding_can_be_forced(tmp_path: Path, bundle: Bundle) -> None:
    source = tmp_path / "big5.csv"
    source.write_bytes("編號,care_level\nA,primary\n".encode("big5"))
    out, _ = _run(tmp_path, bundle, source, encoding="big5", id_columns=("編號",))
    assert out.column("編號").to_pylist() == ["A"]
    with pytest.raises(BatchUsageError, match="unknown encoding"):
        _run(tmp_path, bundle, source, encoding="klingon")


def test_a_line_in_another_encoding_is_that_rows_error(tmp_path: Path, bundle: Bundle) -> None:
    text = "id,care_level,actual_transfer\na,primary,上转\nb,primary,下转\n".encode()
    source = tmp_path / "mixed.csv"
    source.write_bytes(text + "c,primary,下转\n".encode("gbk") + b"d,primary,none\n")
    out, err = _run(tmp_path, bundle, source, id_columns=("id",))
    assert out.column("ok").to_pylist() == [True, True, False, True]
    assert "line 4" in out.column("error").to_pylist()[2]
    assert "mostly UTF-8" in err


# --- item 15: empty and truncated inputs ---------------------------------------------------

@pytest.mark.parametrize(("name", "content", "message"), [
    ("empty.csv", b"", "is empty (0 bytes)"),
    ("blank.csv", b"\n\r\n", "no header line"),
    ("header.csv", b"patient_id,sbp\n", "no rows"),
    ("empty.parquet", b"", "is empty (0 bytes)"),
    ("cut.parquet", None, "cut short"),
])
def test_unreadable_input_is_one_line_and_exit_4(tmp_path: Path, bundle: Bundle, name: str,
                                                 content: bytes | None, message: str) -> None:
    source = tmp_path / name
    if content is None:
        pq.write_table(population_table(500, seed=1, rules=bundle), source)
        content = source.read_bytes()[:-100]
    source.write_bytes(content)
    with pytest.raises(BatchInputError, match=re.escape(message)):
        _run(tmp_path, bundle, source)
    code, _, err = _cli("batch", str(source), "-o", str(tmp_path / "o.parquet"), "--rules",
                        str(RULES), "--workers", "1")
    assert code == 4
    assert len(err.strip().splitlines()) == 1 and message in err and "Traceback" not in err


# --- item 17: misspelt columns, paths, strict ----------------------------------------------

def test_misspelt_column_gets_did_you_mean_and_fails_strict(tmp_path: Path,
                                                           bundle: Bundle) -> None:
    source = tmp_path / "typo.csv"
    source.write_text("patient_id,care_level,spb,ward\na,primary,185\n", encoding="utf-8")
    out, err = _run(tmp_path, bundle, source)
    assert "column 'spb' is not read: did you mean the fact 'sbp'?" in err
    assert "ward" in err and "'ward' is not read" not in err  # no guess for an extra column
    meta = json.loads(out.schema.metadata[b"referral_rules.column_suggestions"])
    assert meta == {"spb": "the fact 'sbp'"}
    code, _, err = _cli("batch", str(source), "-o", str(tmp_path / "o.parquet"), "--rules",
                        str(RULES), "--workers", "1", "--strict")
    assert code == 5 and "did you mean the fact 'sbp'" in err
    assert not (tmp_path / "o.parquet").exists()


def test_output_and_report_paths_are_checked_before_screening(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("patient_id,care_level\na,primary\n", encoding="utf-8")
    base = ["batch", str(source), "--rules", str(RULES), "--workers", "1"]
    (tmp_path / "dir.parquet").mkdir()
    cases = [
        (["-o", str(tmp_path / "dir.parquet")], "is a directory"),
        (["-o", str(tmp_path / "no" / "o.parquet")], "does not exist"),
        (["-o", str(tmp_path / "o.parquet"), "--report", str(tmp_path / "no" / "r.html")],
         "does not exist"),
        (["-o", str(tmp_path / "o.parquet"), "--report", str(tmp_path)], "is a directory"),
    ]
    for extra, message in cases:
        code, _, err = _cli(*base, *extra)
        assert code == 2 and message in err, (extra, err)
        assert not list(tmp_path.glob("*.parts")) and not (tmp_path / "o.parquet").exists()
