"""Reading a batch output for the report: row batches counted into a small cube, list
columns and error codes counted, the batch's metadata parsed.

Whether a row *met* a condition's down-transfer criterion is read from its ``fired`` rule ids
(the rules' directions come from the bundle): the output has no column for it, and a down
criterion can fire whatever the direction (an up criterion or a recorded blocker wins).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

__all__ = ["Cell", "Tally", "metadata", "tally"]

BATCH_ROWS = 65_536
_SEP = "\x1f"
_WANTED = ("ok", "error", "conditions", "direction", "urgency", "current_level", "fired",
           "refusal", "missing_facts", "possible_emergencies", "complete", "checks_outstanding")


class Cell(NamedTuple):
    """One combination of the dimensions the report breaks rows down by."""

    conditions: tuple[str, ...]
    level: str
    visit: str
    direction: str  # up / down / stay / failed
    urgency: str
    actual: str
    met: tuple[str, ...]  # rulesets one of whose down criteria fired, in bundle order
    checks: bool  # checks_outstanding: a down decision with a checklist
    complete: bool
    emergency: bool  # at least one possible emergency


class Tally(NamedTuple):
    """Everything the report counts, in one pass over the output."""

    schema: pa.Schema
    cube: Counter[Cell]
    fired: Counter[str]
    missing: Counter[str]
    emergencies: Counter[str]
    codes: Counter[str]
    fact_codes: Counter[tuple[str, str]]
    refusal: Counter[str]


def tally(output: str | Path | pa.Table, extra: tuple[str, ...],
          down: Mapping[str, str] | None = None) -> Tally:
    """Count ``output`` batch by batch (bounded memory); ``extra`` are carried columns read;
    ``down`` maps each down-transfer rule id to its ruleset (bundle order)."""
    schema, batches = _open(output, [*_WANTED, *extra])
    names = set(schema.names)
    met = _Met(down or {})
    t = Tally(schema, Counter(), Counter(), Counter(), Counter(), Counter(), Counter(),
              Counter())
    for batch in batches:
        t.cube.update(_cells(batch, names, met))
        ok = batch.column("ok")
        t.fired.update(_flat_counts(batch.column("fired")))
        t.missing.update(_flat_counts(batch.column("missing_facts")))
        if "possible_emergencies" in names:
            t.emergencies.update(_flat_counts(batch.column("possible_emergencies")))
        t.refusal.update(_counts(pc.fill_null(pc.filter(batch.column("refusal"), ok), "unknown")))
        _errors(pc.filter(batch.column("error"), pc.invert(ok)).to_pylist(), t.codes,
                t.fact_codes)
    return t


def _open(output: str | Path | pa.Table, wanted: list[str]
          ) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    if isinstance(output, pa.Table):
        cols = [c for c in wanted if c in output.schema.names]
        return output.schema, iter(output.select(cols).to_batches(max_chunksize=BATCH_ROWS))
    parquet = pq.ParquetFile(str(output))
    schema = parquet.schema_arrow
    cols = [c for c in wanted if c in schema.names]
    return schema, parquet.iter_batches(batch_size=BATCH_ROWS, columns=cols)


def _text(batch: pa.RecordBatch, names: set[str], name: str, default: str) -> pa.Array:
    if name not in names:
        return pa.array([default] * batch.num_rows, pa.string())
    column = batch.column(name)
    if not pa.types.is_string(column.type):
        column = pc.cast(column, pa.string())
    return pc.fill_null(column, default)


class _Met:
    """Per row, the rulesets one of whose down-transfer rules fired, joined by commas."""

    def __init__(self, down: Mapping[str, str]) -> None:
        self.rules = pa.array(list(down), pa.string())
        self.names = list(dict.fromkeys(down.values()))
        position = {name: i for i, name in enumerate(self.names)}
        self.ruleset = np.array([position[r] for r in down.values()], np.int64)

    def __call__(self, fired: pa.Array) -> pa.Array:
        n = len(fired)
        if isinstance(fired, pa.ChunkedArray):
            fired = fired.combine_chunks()
        index = pc.index_in(pc.list_flatten(fired), value_set=self.rules)
        keep = index.is_valid()
        rows = pc.filter(pc.list_parent_indices(fired), keep).to_numpy().astype(np.int64)
        sets = self.ruleset[pc.filter(index, keep).to_numpy().astype(np.int64)]
        # unique (row, ruleset) pairs, sorted: each row's rulesets once, in bundle order
        pairs = np.unique(rows * max(1, len(self.names)) + sets)
        rows, sets = np.divmod(pairs, max(1, len(self.names)))
        offsets = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))])
        values = pa.array(self.names, pa.string()).take(pa.array(sets, pa.int64()))
        lists = pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values)
        return pc.binary_join(lists, ",")


def _cells(batch: pa.RecordBatch, names: set[str], met: _Met) -> Counter[Cell]:
    """Count the rows of ``batch`` by every dimension at once (a small cube)."""
    ok = pc.fill_null(batch.column("ok"), False)
    direction = pc.if_else(ok, _text(batch, names, "direction", "unknown"), "failed")
    emergency = pc.greater(pc.fill_null(pc.list_value_length(
        batch.column("possible_emergencies")), 0), 0) if "possible_emergencies" in names \
        else pa.array([False] * batch.num_rows)
    parts = [pc.fill_null(pc.binary_join(batch.column("conditions"), ","), ""),
             _text(batch, names, "current_level", "unknown"),
             _text(batch, names, "visit_type", "unknown"), direction,
             _text(batch, names, "urgency", "none"),
             _text(batch, names, "actual_transfer", ""),
             met(batch.column("fired")),
             _text(batch, names, "checks_outstanding", "false"),
             _text(batch, names, "complete", "false"),
             pc.cast(emergency, pa.string())]
    out: Counter[Cell] = Counter()
    for key, n in _counts(pc.binary_join_element_wise(*parts, _SEP)).items():
        c, level, visit, d, urgency, actual, down, checks, complete, emerg = key.split(_SEP)
        out[Cell(tuple(x for x in c.split(",") if x), level, visit, d, urgency, actual,
                  tuple(x for x in down.split(",") if x), checks == "true",
                  complete == "true", emerg == "true")] += n
    return out


def _counts(values: pa.Array) -> Counter[str]:
    out: Counter[str] = Counter()
    for item in pc.value_counts(values).to_pylist():
        if item["values"] is not None:
            out[str(item["values"])] += int(item["counts"])
    return out


def _flat_counts(lists: pa.Array) -> Counter[str]:
    """Rows per list element (null lists, i.e. failed rows, count nothing)."""
    return _counts(pc.list_flatten(lists))


def _errors(errors: list[str | None], codes: Counter[str],
            fact_codes: Counter[tuple[str, str]]) -> None:
    """Issue codes of failed rows (each code once per row) and the (fact, code) pairs."""
    for text in errors:
        try:
            issues = json.loads(text) if text else []
        except json.JSONDecodeError:
            issues = [{"code": "unreadable-error"}]
        if not isinstance(issues, list) or not issues:
            issues = [{"code": "unknown"}]
        pairs = {(str(i.get("fact", "")), str(i.get("code", "unknown")))
                 for i in issues if isinstance(i, dict)}
        codes.update({code for _, code in pairs})
        fact_codes.update(pairs)


def metadata(schema: pa.Schema) -> dict[str, Any]:
    """The batch's metadata: one JSON object under ``referral_rules``, or one value per
    ``referral_rules.<name>`` key (JSON where it parses, else text)."""
    raw: dict[bytes, bytes] = dict(schema.metadata or {})
    out: dict[str, Any] = {}
    whole = raw.get(b"referral_rules")
    if whole is not None:
        out.update(_json(whole) if isinstance(_json(whole), dict) else {})
    for key, value in raw.items():
        if key.startswith(b"referral_rules."):
            name = key.decode("utf-8", "replace").split(".", 1)[1]
            parsed = _json(value)
            out[name] = value.decode("utf-8", "replace") if parsed is None else parsed
    if isinstance(out.get("rows"), str) and out["rows"].isdigit():
        out["rows"] = int(out["rows"])
    return out


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
