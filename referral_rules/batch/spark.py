"""Spark: the same screening as a Spark job, for a region's tables (``pip install
'referral-rules[spark]'``).

``screen(df, rules)`` adds no new logic: it runs ``Screener.screen`` (the local run's per-batch
function) inside ``DataFrame.mapInArrow``, so Spark and the local run give identical rows. The
rules files travel with the job (their bytes, checked by sha256), so executors need no shared
file system; each Python worker compiles them once and keeps the ``Screener`` in a module-level
cache keyed by that sha256, the backend and the column plan.

Example, in an existing PySpark job::

    from referral_rules.batch.spark import screen
    patients = spark.read.parquet("s3://region/inpatients/2026-10/")
    decisions = screen(patients, "rulesets", backend="durable", id_columns=["patient_id"])
    decisions.write.parquet("s3://region/screening/2026-10/")

This module imports pyspark; nothing else in ``referral_rules`` does.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ..evaluate import Backend, resolve_backend
from ..link import load_rulesets
from ._parts import OutputWriter
from .columns import TRANSFER, ColumnMapping, Plan, plan_columns, read_mapping
from .errors import BatchFailed, BatchRejected
from .run import BatchOptions, BatchResult, count_transfers, prepare, report_columns
from .screen import DECISION_FIELDS, Screener, metadata, output_schema, rules_digest
from .source import exact_chunks

__all__ = ["rules_files", "run_spark", "screen", "spark_session"]

_ROW = "__referral_rules_row__"
_MID = "__referral_rules_mid__"
_BLOCK = "__referral_rules_block__"
_SPARK_TYPES = {pa.int64(): T.LongType(), pa.bool_(): T.BooleanType(), pa.string(): T.StringType(),
                pa.list_(pa.string()): T.ArrayType(T.StringType(), containsNull=True)}
_STR = _SPARK_TYPES[pa.string()]
# The decision columns in Spark's terms, made from the local run's own (one list to change).
_FIELDS = [T.StructField(f.name, _SPARK_TYPES[f.type], f.nullable) for f in DECISION_FIELDS]
_CACHE: dict[tuple[str, str, Plan], Screener] = {}
_LOG = logging.getLogger("referral_rules.batch")


def rules_files(rules: str | Path) -> dict[str, bytes]:
    """The bytes of every file ``load_rulesets`` reads from the directory ``rules``."""
    root = Path(rules)
    return {p.name: p.read_bytes() for p in sorted(root.iterdir())
            if p.suffix in (".yaml", ".yml") and p.is_file()}


def screen(df: DataFrame, rules: str | Path, *, backend: Backend = "auto",
           id_columns: Sequence[str] | None = None,
           columns: Mapping[str, str] | ColumnMapping | str | Path | None = None,
           row_column: str | None = None) -> DataFrame:
    """Screen every row of ``df`` with the rulesets of the directory ``rules``.

    Args:
        df: one patient per row; columns named as facts (or mapped by ``columns``), optional
            ``conditions`` (comma-separated ruleset ids, or an array) and ``actual_transfer``.
        rules: the rules directory, read on the driver; its files are shipped to the executors.
        backend: ``durable``, ``python`` or ``auto``, as for ``Engine``.
        id_columns: columns carried through untouched (default: ``patient_id`` if present).
        columns: a column mapping ``{input column: fact name}``, or the path of its YAML file
            (whose ``actual_transfer`` ``values:`` are used too).
        row_column: an integer column to use as ``row`` (e.g. a row number you already have).
            Without it ``row`` is ``monotonically_increasing_id()``: unique and increasing, but
            not consecutive.

    Returns:
        The output contract of ``referral-rules batch`` (docs/batch.md), one row per input row.
        Input columns that are not facts are logged once (logger ``referral_rules.batch``)
        and ignored.
    """
    files = rules_files(rules)
    bundle = load_rulesets(rules)
    if isinstance(columns, str | Path):
        columns = read_mapping(columns, bundle.vocabulary)
    names = [c for c in df.columns if c != row_column]
    plan = plan_columns(names, bundle.vocabulary, columns, id_columns)
    if plan.unknown:
        _LOG.warning("ignored %d column(s) that are not facts: %s", len(plan.unknown),
                     ", ".join(plan.unknown))
    row = F.col(f"`{row_column}`").cast("long") if row_column else F.monotonically_increasing_id()
    return _screen(df, row, plan, files, rules_digest(bundle), backend)


def _screen(df: DataFrame, row: Column, plan: Plan, files: dict[str, bytes], digest: str,
            backend: Backend) -> DataFrame:
    source = df.select(*[F.col(f"`{c}`") for c in plan.columns], row.alias(_ROW))
    fields = [df.schema[c] for c in plan.ids]
    for column, name in plan.carried:  # actual_transfer comes out as up / down / none
        kind = _STR if name == TRANSFER else df.schema[column].dataType
        fields.append(T.StructField(name, kind, True))
    schema = T.StructType([*fields, *_FIELDS])

    def apply(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        screener = _screener(digest, files, backend, plan)
        for batch in batches:
            yield screener.screen(batch.drop_columns([_ROW]), batch.column(_ROW))

    with warnings.catch_warnings():
        # mapInArrow checks pandas' version although it does not use pandas.
        warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas",
                                FutureWarning)
        return source.mapInArrow(apply, schema)


def _screener(digest: str, files: dict[str, bytes], backend: Backend, plan: Plan) -> Screener:
    """This Python worker's Screener for these rules (compiled once, then cached)."""
    key = (digest, backend, plan)
    hit = _CACHE.get(key)
    if hit is None:
        directory = _materialise(files)
        bundle = load_rulesets(directory)
        if rules_digest(bundle) != digest:
            msg = "the rules shipped to this executor do not match the driver's"
            raise RuntimeError(msg)
        hit = _CACHE[key] = Screener(bundle, backend, plan)
    return hit


def _materialise(files: dict[str, bytes]) -> Path:
    """Write the shipped rules files once per content into the worker's temporary directory."""
    content = hashlib.sha256()
    for name, data in sorted(files.items()):
        content.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    target = Path(tempfile.gettempdir()) / f"referral-rules-{content.hexdigest()[:24]}"
    if not target.is_dir():
        staging = Path(tempfile.mkdtemp(prefix="referral-rules-", dir=target.parent))
        for name, data in files.items():
            (staging / name).write_bytes(data)
        try:
            os.replace(staging, target)
        except OSError:  # another worker got there first: use its copy
            for p in staging.iterdir():
                p.unlink()
            staging.rmdir()
    return target


def spark_session(master: str = "local[*]", app: str = "referral-rules batch",
                  conf: Mapping[str, str] | None = None) -> SparkSession:
    """A SparkSession for the command line: local mode binds to 127.0.0.1, no web UI.

    The Python workers run this interpreter (``PYSPARK_PYTHON`` unless already set).
    """
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder: Any = SparkSession.builder.master(master).appName(app)
    settings = {"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false",
                "spark.sql.session.timeZone": "UTC"}
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        settings |= {"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1"}
    settings |= dict(conf or {})
    for key, value in settings.items():
        builder = builder.config(key, value)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas",
                                FutureWarning)
        session: SparkSession = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


# --- ``referral-rules batch --engine spark`` -------------------------------------------------

def run_spark(options: BatchOptions, master: str = "local[*]", stderr: IO[str] | None = None,
              session: SparkSession | None = None) -> BatchResult:
    """The command line's Spark run: one input file in, one Parquet file out (as the local run).

    Spark reads the input, screens it with ``mapInArrow`` and writes parts, each sorted by row,
    under ``OUTPUT.parts/spark`` (no global sort: that would screen everything twice, once to
    sample); the driver then streams them in row order into OUTPUT (atomically, with the local
    run's row groups and metadata) and removes the parts. ``row`` is the exact
    input row index: each file block's rows are numbered from offsets counted in a first pass.

    Args:
        options: as for ``run_batch`` (``workers`` is ignored: Spark decides).
        master: the Spark master URL when no ``session`` is given.
        stderr: where notices go.
        session: the SparkSession to use (default: the active one, else a new one for
            ``master``, stopped at the end); a session not created here is left running.
    """
    err = stderr or sys.stderr
    started = time.perf_counter()
    source, plan, bundle = prepare(options)
    report_columns(plan, err, source)
    tally = count_transfers(source, plan, options.chunk_rows)
    if options.strict and tally is not None and (line := tally.summary()) is not None:
        msg = f"--strict: {line}"
        raise BatchRejected(msg)
    backend: Backend = resolve_backend(options.backend)
    session = session or SparkSession.getActiveSession()
    spark = session or spark_session(master)
    try:
        path = str(options.input.resolve())
        if source.kind == "parquet":
            df = spark.read.parquet(path)
        else:
            df = spark.read.options(header=True, inferSchema=False, escape='"',
                                    encoding=source.encoding or "utf-8",
                                    sep="\t" if options.input.suffix == ".tsv" else ",").csv(path)
        marked = df.withColumn(_MID, F.monotonically_increasing_id()).withColumn(
            _BLOCK, F.col("_metadata.file_block_start"))
        out = _screen(marked, _row_index(marked), plan, rules_files(bundle.directory),
                      rules_digest(bundle), backend)
        parts = options.output.with_name(options.output.name + ".parts")
        if parts.exists():
            shutil.rmtree(parts)
        out.sortWithinPartitions("row").write.mode("overwrite").parquet(str(parts / "spark"))
    finally:
        if session is None:
            spark.stop()
    files = sorted((parts / "spark").glob("part-*.parquet"))
    rows = sum(pq.read_metadata(p).num_rows for p in files)
    if source.rows is not None and rows != source.rows:
        msg = f"Spark wrote {rows} rows but the input has {source.rows}"
        raise BatchFailed(msg)
    schema = output_schema(source.schema, plan)
    meta = metadata(bundle, backend, plan, source.path.name, rows, "spark",
                    tally.to_dict() if tally is not None else None)
    writer = OutputWriter(options.output, schema.with_metadata(meta))
    try:
        for table in _in_order(files, options.chunk_rows):
            writer.write(table)
    except BaseException:
        writer.abort()
        raise
    writer.close()
    shutil.rmtree(parts)
    if tally is not None and (line := tally.summary()) is not None:
        err.write(line + "\n")
    return BatchResult(options.output, rows, writer.failed, backend,
                       time.perf_counter() - started, 0, plan.unknown,
                       tally.to_dict() if tally is not None else None, plan.suggestions)


def _row_index(marked: DataFrame) -> Column:
    """The 0-based input row of each row of a single-file input, from per-block offsets."""
    stats = sorted(marked.groupBy(_BLOCK).agg(F.count(F.lit(1)).alias("n"),
                                              F.min(_MID).alias("first")).collect())
    shift: list[Column] = []
    offset = 0
    for block, n, first in stats:
        shift += [F.lit(block), F.lit(offset - first)]
        offset += n
    if not shift:
        return F.col(_MID)
    return F.col(_MID) + F.element_at(F.create_map(*shift), F.col(_BLOCK))


def _in_order(files: list[Path], size: int) -> Iterator[pa.Table]:
    """Spark's parts as tables of ``size`` rows in row order, checking rows are 0, 1, 2, ….

    Each part is sorted; parts normally hold consecutive runs of rows (one file block each) and
    are streamed one after the other. Parts whose rows interleave are sorted in memory.
    """
    spans = []
    for path in files:
        rows = pq.read_table(path, columns=["row"]).column("row")
        if len(rows):
            low, high = pc.min_max(rows).values()
            spans.append((low.as_py(), high.as_py(), len(rows), path))
    spans.sort()
    runs = all(hi - lo + 1 == n for lo, hi, n, _ in spans) and all(
        b[0] == a[1] + 1 for a, b in itertools.pairwise(spans))
    if runs:
        batches: Iterator[pa.RecordBatch] = (
            b for *_, p in spans for b in pq.ParquetFile(p).iter_batches(batch_size=size))
    else:
        whole = pa.concat_tables([pq.read_table(p) for *_, p in spans]).sort_by("row")
        batches = iter(whole.to_batches(max_chunksize=size))
    expected = 0
    for batch in exact_chunks(batches, size):
        table = pa.Table.from_batches([batch])
        rows = table.column("row").to_numpy()
        if not (rows == np.arange(expected, expected + len(rows))).all():
            msg = "Spark's output rows are not the input rows in order"
            raise BatchFailed(msg)
        expected += len(rows)
        yield table
