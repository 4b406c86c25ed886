"""``actual_transfer``: what really happened, written the way HIS exports write it.

The report compares the rules' advice with what happened, so this column must be read right: an
export that writes ``上转``/``下转``/``未转`` or ``UP``/``DOWN`` must not be counted as "not
transferred" (it was, silently, before). Each cell is trimmed and lower-cased, then looked up in
the built-in synonyms below and in the column mapping's own ``values:``, which win. A blank cell
is "not recorded"; any other text is *unknown*: counted by value, named on stderr and in the
report, null in the output, and under ``--strict`` it fails the run.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

__all__ = ["OUTCOMES", "SYNONYMS", "TransferTally", "lookup", "normalise", "normalise_text"]

OUTCOMES = ("up", "down", "none")
SYNONYMS: dict[str, tuple[str, ...]] = {
    "up": ("up", "upward", "referred up", "transfer up", "transferred up", "refer up",
           "上转", "上转诊", "向上转诊", "转上级", "转上级医院", "转往上级医院", "上级转诊"),
    "down": ("down", "downward", "referred down", "transfer down", "transferred down",
             "refer down", "下转", "下转诊", "向下转诊", "转下级", "转下级医院", "转回基层",
             "转基层", "转社区", "回基层"),
    "none": ("none", "no", "no transfer", "not transferred", "stay", "stayed",
             "未转", "未转诊", "不转", "不转诊", "无", "否", "无转诊", "留治", "未上转",
             "未下转"),
}
_SHOWN = 10  # unknown values listed by name; the rest are counted together
_WIDTH = 24  # characters of an unknown value shown


def normalise_text(value: str) -> str:
    """How a cell and a synonym are compared: trimmed, lower-case."""
    return value.strip().lower()


def lookup(own: Mapping[str, str] | None = None) -> dict[str, str]:
    """Normalised text → ``up`` / ``down`` / ``none``: the built-in synonyms, then ``own``."""
    table = {normalise_text(text): outcome for outcome, texts in SYNONYMS.items()
             for text in texts}
    table.update({normalise_text(k): v for k, v in (own or {}).items()})
    return table


def _keys(arr: pa.Array, lower: bool = True) -> pa.Array:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        arr = pc.cast(arr, pa.string())
    trimmed = pc.utf8_trim_whitespace(arr)
    return pc.utf8_lower(trimmed) if lower else trimmed


def normalise(arr: pa.Array, table: Mapping[str, str]) -> pa.Array:
    """Each cell as ``up`` / ``down`` / ``none``, or null (blank or unknown)."""
    keys = list(table)
    index = pc.index_in(_keys(arr), value_set=pa.array(keys, pa.string()))
    return pa.array([table[k] for k in keys], pa.string()).take(index)


class TransferTally:
    """Counts of an ``actual_transfer`` column over a run: by outcome, blank, unknown values."""

    def __init__(self, column: str, table: Mapping[str, str]) -> None:
        self.column = column
        self.table = dict(table)
        self.counts: Counter[str] = Counter()
        self.unknown: Counter[str] = Counter()

    def add(self, arr: pa.Array, readable: pa.Array | None = None) -> None:
        """Count one batch's cells (``readable``: a mask of the rows that are rows at all)."""
        keys = _keys(arr, lower=False)  # unknown values are shown as written
        if readable is not None:
            keys = pc.filter(keys, readable)
        for item in pc.value_counts(keys).to_pylist():
            value, n = item["values"], int(item["counts"])
            outcome = self.table.get(normalise_text(value or ""))
            if value is None or value == "":
                self.counts["blank"] += n
            elif outcome is not None:
                self.counts[outcome] += n
            else:
                self.unknown[value] += n

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: the column, counts by outcome, blank, and the unknown values (the most
        frequent ``_SHOWN`` by name, shortened; the rest summed under ``other``)."""
        top = sorted(self.unknown.items(), key=lambda kv: (-kv[1], kv[0]))
        shown = [{"value": _short(v), "rows": n} for v, n in top[:_SHOWN]]
        return {"column": self.column, **{k: self.counts[k] for k in (*OUTCOMES, "blank")},
                "unknown_rows": sum(self.unknown.values()), "unknown_values": shown,
                "unknown_other_values": max(0, len(top) - _SHOWN)}

    def to_json(self) -> str:
        """``to_dict`` as compact JSON."""
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))

    def summary(self) -> str | None:
        """One line for stderr when some values mean nothing known, else None."""
        if not self.unknown:
            return None
        top = sorted(self.unknown.items(), key=lambda kv: (-kv[1], kv[0]))
        names = ", ".join(f"'{_short(v)}' ({n:,})" for v, n in top[:_SHOWN])
        more = f" and {len(top) - _SHOWN} other value(s)" if len(top) > _SHOWN else ""
        return (f"{self.column}: {sum(self.unknown.values()):,} row(s) with a value that is "
                f"not up, down or none: {names}{more}; they count as not recorded (map them "
                f"under 'values:' in the --columns file; --strict fails on them)")


def _short(value: str) -> str:
    return value if len(value) <= _WIDTH else value[: _WIDTH - 1] + "…"
