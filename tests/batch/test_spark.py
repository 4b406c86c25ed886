"""Spark (local mode): the same output as the local batch, by the CLI and by ``screen()``.

Skipped only when pyspark cannot be imported (CI installs it with the ``spark`` extra).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]
import pyarrow.csv as pacsv  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]
import pytest

from referral_rules import Bundle
from referral_rules.batch import BatchOptions, run_batch
from referral_rules.batch.population import population_batches, population_table
from referral_rules.cli import main

pytest.importorskip("pyspark")

from pyspark.sql import SparkSession

from referral_rules.batch.spark import screen, spark_session

pytestmark = [
    # pyspark 4 warns at start-up and in mapInArrow that it does not fully support pandas 3;
    # nothing here uses pandas.
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
]

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rulesets"
# The sample size; about 35 s here. Lower it (e.g. 20000) on a slow machine.
IDENTITY_ROWS = int(os.environ.get("REFERRAL_RULES_SPARK_ROWS", "100000"))


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    session = spark_session("local[2]", conf={"spark.sql.shuffle.partitions": "2",
                                              "spark.default.parallelism": "2"})
    yield session
    session.stop()


def _local(source: Path, output: Path, bundle: Bundle, backend: str) -> pa.Table:
    run_batch(BatchOptions(source, output, rules=bundle, backend=backend,  # type: ignore[arg-type]
                           workers=2, progress=False), io.StringIO())
    return pq.read_table(output)


def _rows(table: pa.Table) -> pa.Table:
    return table.replace_schema_metadata(None)


def test_spark_output_is_the_local_output(tmp_path: Path, bundle: Bundle,
                                          spark: SparkSession) -> None:
    """The issue's check on 100,000 rows: the CLI's Spark engine and the local run agree."""
    source = tmp_path / "population.parquet"
    with pq.ParquetWriter(source, population_table(1, rules=bundle).schema.remove_metadata()
                          ) as writer:
        for b in population_batches(IDENTITY_ROWS, seed=21, rules=bundle):
            writer.write_batch(b)
    local = _local(source, tmp_path / "local.parquet", bundle, "python")
    out, err = io.StringIO(), io.StringIO()
    code = main(["batch", str(source), "-o", str(tmp_path / "spark.parquet"), "--rules",
                 str(RULES), "--engine", "spark", "--backend", "python", "--no-progress"],
                out, err)
    assert code == 0, err.getvalue()
    assert not spark.sparkContext._jsc.sc().isStopped()  # the active session was used, kept
    spark_out = pq.read_table(tmp_path / "spark.parquet")
    assert spark_out.num_rows == IDENTITY_ROWS
    assert _rows(spark_out).equals(_rows(local))
    assert spark_out.schema.metadata[b"referral_rules.engine"] == b"spark"
    assert spark_out.schema.metadata[b"referral_rules.rulesets"] == \
        local.schema.metadata[b"referral_rules.rulesets"]
    assert pc.sum(pc.invert(spark_out.column("ok"))).as_py() > 0  # bad rows went through


def test_spark_csv_with_durable_rules(tmp_path: Path, bundle: Bundle,
                                      spark: SparkSession) -> None:
    """CSV text cells and durable_rules in Spark's Python workers give the local rows."""
    table = population_table(3_000, seed=4, rules=bundle)
    source = tmp_path / "population.csv"
    pacsv.write_csv(table.set_column(table.schema.get_field_index("sbp"), "sbp",
                                     pc.cast(table.column("sbp"), pa.string())), source)
    local = _local(source, tmp_path / "local.parquet", bundle, "durable")
    from referral_rules.batch.spark import run_spark

    run_spark(BatchOptions(source, tmp_path / "spark.parquet", rules=bundle, backend="durable"),
              session=spark)
    spark_out = pq.read_table(tmp_path / "spark.parquet")
    assert _rows(spark_out).equals(_rows(local))
    assert spark_out.schema.field("patient_id").type == pa.string()


def test_spark_screen_entry_point(tmp_path: Path, bundle: Bundle, spark: SparkSession,
                                  caplog: pytest.LogCaptureFixture) -> None:
    """``screen()`` on a DataFrame: mapped columns, a row column, ids; rows as the local run."""
    table = population_table(2_000, seed=6, rules=bundle)
    table = table.rename_columns(["编号" if n == "patient_id" else "收缩压" if n == "sbp" else n
                                  for n in table.column_names])
    table = table.append_column("n", pa.array(range(table.num_rows), pa.int64()))
    source = tmp_path / "mapped.parquet"
    pq.write_table(table, source)
    mapping = tmp_path / "map.yaml"
    mapping.write_text("收缩压: sbp\n", encoding="utf-8")
    run_batch(BatchOptions(source, tmp_path / "local.parquet", rules=bundle, backend="durable",
                           workers=1, id_columns=("编号",), columns=mapping, progress=False),
              io.StringIO())
    local = pq.read_table(tmp_path / "local.parquet")
    df = spark.read.parquet(str(source))
    result = screen(df, RULES, backend="durable", id_columns=["编号"], columns=mapping,
                    row_column="n")
    assert result.columns == local.column_names
    got = result.toArrow().sort_by("row")
    assert got.column("row").to_pylist() == list(range(2_000))
    for name in local.column_names:
        assert got.column(name).to_pylist() == local.column(name).to_pylist(), name
    assert "not facts" not in caplog.text  # the row column is not an unknown column
    unnumbered = screen(df, RULES, id_columns=["编号"], columns={"收缩压": "sbp"})
    assert unnumbered.select("row").distinct().count() == 2_000
    assert "ignored 1 column(s) that are not facts: n" in caplog.text
