"""A seeded synthetic population for demos, tests and benchmarks (``referral-rules population``).

**No real patient data**: every row is simulated. The distributions are illustrative, chosen
to look like a medical consortium's chronic-disease and surgical caseload and to exercise every
rule; they are not epidemiological estimates (``_population_model.py``, ``_population_facts.py``
and docs/report.md list them). One row per patient:

- ``patient_id`` (``SYN-0000001`` …), ``conditions`` (comma-separated ruleset ids in the order
  hypertension, diabetes, chest_pain, post_operative; at least one per patient), and
  ``actual_transfer`` (``up`` / ``down`` / ``none``: what the simulation says happened);
- one column per fact of the vocabulary (``facts.yaml``), typed as the vocabulary says
  (integer → int64, number → float64, boolean → bool, enum → string); null = not recorded.

About 0.5% of rows (``BAD_SHARE``; which rows is seeded) carry one deliberate bad value so a
batch's error path is exercised; ``BAD_VALUES`` says what each kind does. In Parquet, a typed
column cannot hold text, so the ``bp_as_text`` kind is an out-of-range 0 there; in CSV it is the
text ``"142/88"`` in the ``sbp`` column (the only text in a number column).

Deterministic: the same ``n``, ``seed``, rules and library versions (numpy's distributions may
change between numpy releases) give the same rows and, for one format, the same bytes.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]
import pyarrow.csv as pacsv  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]
from numpy.typing import NDArray

from ..ir import Bundle
from ..link import load_rulesets
from ._population_model import ASSESSED, CONDITIONS, ENUMS, TRANSFERS, Sim, simulate

__all__ = [
    "ASSESSED",
    "BAD_SHARE",
    "BAD_VALUES",
    "CHUNK_ROWS",
    "CONDITIONS_COLUMN",
    "ID_COLUMN",
    "METADATA_KEY",
    "OUTCOME_COLUMN",
    "population_batches",
    "population_schema",
    "population_table",
    "write_population",
]

ID_COLUMN = "patient_id"
CONDITIONS_COLUMN = "conditions"
OUTCOME_COLUMN = "actual_transfer"
METADATA_KEY = b"referral_rules_population"
CHUNK_ROWS = 65_536  # rows per generated chunk (and Parquet row group): bounds memory
BAD_SHARE = 0.005
BAD_VALUES: dict[str, str] = {
    "age_negative": "age written with a minus sign, e.g. -67 (out-of-range)",
    "sbp_decimal_slip": "systolic BP ten times too large, e.g. 1420 (out-of-range)",
    "bp_as_text": "CSV: sbp written as '142/88' (wrong-type); Parquet: sbp 0, a 'not measured' "
                  "placeholder (out-of-range)",
    "glucose_mg_dl": "blood glucose in mg/dL in the mmol/L field, at least 101 (out-of-range)",
    "temperature_fahrenheit": "body temperature in °F, e.g. 98.2 (out-of-range)",
    "care_level_missing": "the required care level left empty (missing-required)",
    "visit_type_unknown": "visit type 'outpatient', not a value of the vocabulary (not-allowed)",
}
_TYPES = {"integer": pa.int64(), "number": pa.float64(), "boolean": pa.bool_(),
          "enum": pa.string()}


def _facts_read(bundle: Bundle) -> dict[str, frozenset[str]]:
    """Facts each ruleset reads: its rules' facts, the inputs of its computed values and of
    the derivations of those facts (an HbA1c is charted for ``dm_glucose_not_at_target``).
    A ruleset that is not one of the population's conditions (the cross-cutting ``critical``)
    applies to every patient: its facts count for every condition."""
    inputs = {d.fact: set(d.inputs) for d in bundle.derived}
    out: dict[str, set[str]] = {}
    for rs in bundle.rulesets.values():
        names = {f for r in rs.rules for f in r.facts}
        names |= {f for c in rs.computed for f in c.inputs}
        todo = list(names)
        while todo:
            more = inputs.get(todo.pop(), set()) - names
            names |= more
            todo.extend(more)
        out[rs.id] = names & set(bundle.vocabulary.facts)
    shared = set().union(*(v for k, v in out.items() if k not in CONDITIONS))
    return {k: frozenset(v | shared if k in CONDITIONS else v) for k, v in out.items()}


def _bundle(rules: str | Path | Bundle) -> Bundle:
    return rules if isinstance(rules, Bundle) else load_rulesets(rules)


def _available(bundle: Bundle) -> tuple[str, ...]:
    available = tuple(c for c in CONDITIONS if c in bundle.rulesets)
    if not available:
        msg = f"the rules define none of the conditions {', '.join(CONDITIONS)}"
        raise ValueError(msg)
    return available


def population_schema(rules: str | Path | Bundle = "rulesets", *,
                      text_values: bool = False) -> pa.Schema:
    """The columns: ids, conditions, actual_transfer, then the facts in vocabulary order.

    Args:
        rules: a rules directory (or a loaded bundle) whose vocabulary types the fact columns.
        text_values: type ``sbp`` as text (CSV), so the ``bp_as_text`` bad value can be written.
    """
    vocab = _bundle(rules).vocabulary
    fields = [pa.field(ID_COLUMN, pa.string(), nullable=False),
              pa.field(CONDITIONS_COLUMN, pa.string(), nullable=False),
              pa.field(OUTCOME_COLUMN, pa.string(), nullable=False)]
    for name, spec in vocab.facts.items():
        kind = pa.string() if text_values and name == "sbp" else _TYPES[spec.type]
        fields.append(pa.field(name, kind))
    return pa.schema(fields)


def population_batches(n: int, seed: int = 0, *, rules: str | Path | Bundle = "rulesets",
                       text_values: bool = False,
                       bad_counts: Counter[str] | None = None) -> Iterator[pa.RecordBatch]:
    """``n`` synthetic patients as record batches of at most ``CHUNK_ROWS`` rows.

    Args:
        n: number of patients.
        seed: the random seed; the same seed gives the same rows.
        rules: the rules directory (or bundle): its vocabulary and rulesets decide the columns,
            which conditions occur and which facts are recorded for whom.
        text_values: write the ``bp_as_text`` bad value as text (for CSV).
        bad_counts: if given, counts the bad values written, by kind (``BAD_VALUES``).
    """
    if n < 0:
        msg = f"'n' must be at least 0 (got {n!r})"
        raise ValueError(msg)
    bundle = _bundle(rules)
    schema = population_schema(bundle, text_values=text_values)
    available, reads = _available(bundle), _facts_read(bundle)
    for chunk, start in enumerate(range(0, n, CHUNK_ROWS)):
        m = min(CHUNK_ROWS, n - start)
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, chunk])))
        sim = simulate(rng, m, available, reads)
        kinds = _spoil(rng, sim, text_values)
        if bad_counts is not None:
            bad_counts.update(kinds)
        yield _batch(schema, sim, start, available)


def _spoil(rng: np.random.Generator, sim: Sim, text_values: bool) -> list[str]:
    """Put one bad value into about ``BAD_SHARE`` of the rows; return their kinds."""
    m = len(sim.state)
    rows = np.flatnonzero(rng.random(m) < BAD_SHARE)
    names = list(BAD_VALUES)
    picks = rng.integers(0, len(names), rows.size)
    cols = sim.columns
    for row, pick in zip(rows.tolist(), picks.tolist(), strict=True):
        kind = names[pick]
        if kind == "care_level_missing":
            cols["care_level"][1][row] = False
            continue
        name, value = {
            "age_negative": ("age", -max(int(cols["age"][0][row]), 18)),
            "sbp_decimal_slip": ("sbp", float(cols["sbp"][0][row]) * 10),
            "bp_as_text": ("sbp", -1.0 if text_values else 0.0),  # -1 marks the text
            "glucose_mg_dl": ("blood_glucose", round(max(float(cols["blood_glucose"][0][row]),
                                                         5.6) * 18)),
            "temperature_fahrenheit": ("body_temperature",
                                       round(float(cols["body_temperature"][0][row]) * 1.8 + 32,
                                             1)),
            "visit_type_unknown": ("visit_type", len(ENUMS["visit_type"])),
        }[kind]
        cols[name][0][row] = value
        cols[name][1][row] = True
    return [names[p] for p in picks.tolist()]


def _batch(schema: pa.Schema, sim: Sim, start: int, available: tuple[str, ...]) -> pa.RecordBatch:
    m = len(sim.state)
    numbers = pa.array(np.arange(start + 1, start + m + 1, dtype=np.int64)).cast(pa.string())
    ids = pc.binary_join_element_wise("SYN-", pc.utf8_lpad(numbers, width=7, padding="0"), "")
    code = sim.conditions @ (1 << np.arange(len(CONDITIONS)))
    combos = [",".join(c for i, c in enumerate(CONDITIONS) if k >> i & 1 and c in available)
              for k in range(1 << len(CONDITIONS))]
    arrays: list[pa.Array] = [ids, pa.array(combos, pa.string()).take(pa.array(code)),
                              pa.array(TRANSFERS, pa.string()).take(pa.array(sim.actual))]
    for field in list(schema)[3:]:
        arrays.append(_column(field, sim.columns.get(field.name), m))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _column(field: pa.Field, column: tuple[NDArray[np.generic], NDArray[np.bool_]] | None,
            m: int) -> pa.Array:
    if column is None:
        return pa.nulls(m, field.type)
    values, present = column
    mask = ~present
    if field.name in ENUMS:
        choices = [*ENUMS[field.name], "outpatient"] if field.name == "visit_type" else \
            list(ENUMS[field.name])
        return pa.array(choices, pa.string()).take(pa.array(values.astype(np.int64), mask=mask))
    if pa.types.is_string(field.type):  # sbp as text, for CSV
        numbers = values.astype(np.float64)
        as_text = pa.array(numbers < 0)  # the bp_as_text marker
        return pc.if_else(as_text, "142/88",
                          pa.array(numbers.astype(np.int64), mask=mask).cast(pa.string()))
    if pa.types.is_boolean(field.type):
        return pa.array(values.astype(np.bool_), mask=mask)
    if pa.types.is_integer(field.type):
        return pa.array(values.astype(np.int64), mask=mask)
    return pa.array(values.astype(np.float64), mask=mask)


def population_table(n: int, seed: int = 0, *,
                     rules: str | Path | Bundle = "rulesets") -> pa.Table:
    """``n`` synthetic patients as one table (for small ``n``; use batches for large ones)."""
    bundle = _bundle(rules)
    counts: Counter[str] = Counter()
    batches = list(population_batches(n, seed, rules=bundle, bad_counts=counts))
    schema = population_schema(bundle).with_metadata(
        {METADATA_KEY: _metadata(n, seed, bundle, counts)})
    return pa.Table.from_batches(batches, schema=schema)


def _metadata(n: int, seed: int, bundle: Bundle, counts: Mapping[str, int]) -> bytes:
    doc: dict[str, Any] = {
        "synthetic": True,
        "note": "Simulated patients, no real data; illustrative distributions, not "
                "epidemiological estimates.",
        "rows": n,
        "seed": seed,
        "bad_value_share": BAD_SHARE,
        "bad_values": {k: counts.get(k, 0) for k in BAD_VALUES},
        "vocabulary": {"version": bundle.vocabulary.version,
                       "sha256": bundle.vocabulary_sha256},
    }
    return json.dumps(doc, ensure_ascii=False, sort_keys=True).encode()


def write_population(path: Path, n: int, seed: int = 0, *,
                     rules: str | Path | Bundle = "rulesets") -> None:
    """Write ``n`` synthetic patients to ``path``: Parquet (``.parquet``, ``.pq``) or CSV
    (``.csv``), chunk by chunk so memory stays bounded for any ``n``.

    Parquet gets the key-value metadata ``referral_rules_population`` (JSON: seed, rows, the
    bad values written by kind, the vocabulary's version and sha256).

    Raises:
        ValueError: an unknown file suffix, or ``n`` below 0.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".pq", ".csv"):
        msg = f"'{path}' must end in .parquet, .pq or .csv (got {suffix or 'no suffix'!r})"
        raise ValueError(msg)
    bundle = _bundle(rules)
    counts: Counter[str] = Counter()
    text = suffix == ".csv"
    schema = population_schema(bundle, text_values=text)
    batches = population_batches(n, seed, rules=bundle, text_values=text, bad_counts=counts)
    if text:
        with pacsv.CSVWriter(str(path), schema) as csv_writer:
            _pipe(batches, csv_writer.write_batch)
        return
    with pq.ParquetWriter(str(path), schema, compression="zstd") as writer:
        _pipe(batches, writer.write_batch)
        writer.add_key_value_metadata({METADATA_KEY: _metadata(n, seed, bundle, counts)})


def _pipe(batches: Iterator[pa.RecordBatch], write: Callable[[pa.RecordBatch], None]) -> None:
    """Write each batch in a second thread while the next one is generated (both release the
    GIL for most of their work); at most two batches are held at a time."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending: Future[None] | None = None
        for batch in batches:
            if pending is not None:
                pending.result()
            pending = pool.submit(write, batch)
        if pending is not None:
            pending.result()
