"""Input columns: which are facts, ids or known columns, and how cells become fact values.

A column is a fact when its name is in the vocabulary, or when the column mapping
(``--columns map.yaml``: ``{input column: fact name}``) says which fact it holds. ``conditions``
(ruleset ids) is read; id columns and the ``visit_type`` fact (the report needs it) are carried
through to the output untouched, and ``actual_transfer`` as ``up``/``down``/``none``
(``transfer.py``: its synonyms, and the mapping's own ``values:``). Every other column is
*unknown*: reported once, with a did-you-mean when its name is close to a fact or to a mapping
entry, and ignored.

Cells are cast per the vocabulary, column by column with Arrow compute, so the same rules apply
to CSV text and to typed Parquet: null, NaN and blank text are an absent fact; booleans are read
from ``true``/``false``/``1``/``0``/``是``/``否`` (and from 0/1 integers); numbers from text; an
integer fact accepts a float that is a whole number (Parquet written by pandas stores integer
columns with nulls as floats). A cell that cannot be cast becomes a ``FactIssue`` of its row,
never an exception.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

from .._sourcemap import SourceMap, load_yaml
from ..errors import FactIssue, Issue, RulesetError
from ..vocabulary import Vocabulary
from .errors import BatchUsageError
from .transfer import OUTCOMES

__all__ = [
    "CARRIED_FACTS",
    "CONDITIONS",
    "DEFAULT_ID",
    "OUTPUT_NAMES",
    "TRANSFER",
    "Cells",
    "ColumnMapping",
    "Plan",
    "load_mapping",
    "plan_columns",
    "read_cells",
    "read_mapping",
]

CONDITIONS = "conditions"
TRANSFER = "actual_transfer"
DEFAULT_ID = "patient_id"
CARRIED_FACTS = ("visit_type",)  # facts also copied to the output, untouched, for the report
OUTPUT_NAMES = ("row", "ok", "error", "conditions", "direction", "urgency", "current_level",
                "target_level", "fired", "criteria", "records", "refusal", "missing_facts",
                "confirm_before_transfer", "possible_emergencies", "complete",
                "checks_outstanding")
_NUMBER = r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$|^[+-]?(?:nan|inf|infinity)$"
_TRUE = ["true", "1", "是"]
_FALSE = ["false", "0", "否"]


@dataclass(frozen=True)
class Plan:
    """What each input column is. Plain data: it is pickled to the worker processes."""

    facts: tuple[tuple[str, str], ...]  # (input column, fact name), in input order
    ids: tuple[str, ...]
    conditions: str | None  # the input column holding ruleset ids, if any
    carried: tuple[tuple[str, str], ...]  # (input column, output name): actual_transfer, …
    unknown: tuple[str, ...]  # ignored input columns
    unmatched: tuple[str, ...]  # mapping entries naming a column the input does not have
    transfer_values: tuple[tuple[str, str], ...] = ()  # the mapping's own actual_transfer
    suggestions: tuple[tuple[str, str], ...] = ()  # (unknown column, what it may be meant as)

    @property
    def columns(self) -> list[str]:
        """The input columns the batch reads (unknown ones are never read)."""
        names = [*self.ids, *(c for c, _ in self.facts), *(c for c, _ in self.carried)]
        if self.conditions is not None:
            names.append(self.conditions)
        return list(dict.fromkeys(names))

    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON-ready data (restart manifest, output metadata)."""
        return {"facts": [list(p) for p in self.facts], "ids": list(self.ids),
                "conditions": self.conditions, "carried": [list(p) for p in self.carried],
                "unknown": list(self.unknown),
                "transfer_values": [list(p) for p in self.transfer_values]}


@dataclass(frozen=True)
class ColumnMapping:
    """A column-mapping file: input column → fact, and ``actual_transfer``'s own values."""

    columns: dict[str, str]
    transfer_values: dict[str, str]  # the export's text → up / down / none


def load_mapping(path: str | Path, vocabulary: Vocabulary) -> dict[str, str]:
    """Read a column-mapping YAML file: ``{input column name: fact name}`` (see
    ``read_mapping``)."""
    return read_mapping(path, vocabulary).columns


def read_mapping(path: str | Path, vocabulary: Vocabulary) -> ColumnMapping:
    """Read a column-mapping YAML file.

    Each entry is ``input column: fact name``; targets may also be ``conditions`` or
    ``actual_transfer``. The column that holds ``actual_transfer`` may say how the export writes
    the outcomes, beyond the built-in synonyms::

        实际转诊:
          fact: actual_transfer
          values: {转县医院: up, 转卫生院: down, 在院: none}

    Raises:
        RulesetError: with file:line:column, for a syntax error, a duplicate key, a value that is
            not a name, a fact that is not in the vocabulary (with did-you-mean), or a
            ``values:`` entry that is not up / down / none.
    """
    file = str(path)
    data, smap, issues = load_yaml(Path(path).read_text(encoding="utf-8"), file)
    if issues:
        raise RulesetError(issues)
    if data is None:
        return ColumnMapping({}, {})
    if not isinstance(data, dict):
        msg = "a column mapping is a mapping of input column name to fact name"
        raise RulesetError([Issue(file, 1, 1, "", msg, "schema", "e.g. 收缩压: sbp")])
    known = [*vocabulary.facts, CONDITIONS, TRANSFER]
    out: dict[str, str] = {}
    values: dict[str, str] = {}
    for column, entry in data.items():
        target = entry
        if isinstance(entry, dict):
            target = entry.get("fact")
            values.update(_values(column, entry, smap, issues))
        if not isinstance(target, str):
            msg = f"'{column}' must map to a fact name (got {target!r})"
            issues.append(smap.issue((column,), msg, "schema",
                                     "e.g. 实际转诊: actual_transfer"))
        elif target not in known:
            close = difflib.get_close_matches(target, known, n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else "see docs/facts.md for the names"
            where = (column, "fact") if isinstance(entry, dict) else (column,)
            issues.append(smap.issue(where, f"unknown fact '{target}'", "unknown-fact", hint))
        else:
            out[str(column)] = target
    seen: dict[str, str] = {}
    for column, target in out.items():
        if target in seen:
            msg = f"'{column}' and '{seen[target]}' both map to '{target}'"
            issues.append(smap.issue((column,), msg, "duplicate-key", "keep one of them"))
        seen[target] = column
    if issues:
        raise RulesetError(issues)
    return ColumnMapping(out, values)


def _values(column: str, entry: dict[str, Any], smap: SourceMap,
            issues: list[Issue]) -> dict[str, str]:
    """The ``values:`` of a mapping entry (only ``actual_transfer`` has them)."""
    extra = sorted(set(entry) - {"fact", "values"})
    if extra:
        msg = f"unknown key '{extra[0]}' (an entry has 'fact' and, for actual_transfer, 'values')"
        issues.append(smap.issue((column, extra[0]), msg, "schema", key=True))
    given = entry.get("values")
    if given is None:
        return {}
    if entry.get("fact") != TRANSFER:
        msg = "'values' are read only for actual_transfer"
        issues.append(smap.issue((column, "values"), msg, "schema", key=True))
        return {}
    if not isinstance(given, dict):
        msg = "'values' maps the export's text to up, down or none"
        issues.append(smap.issue((column, "values"), msg, "schema", "e.g. {转县医院: up}"))
        return {}
    out: dict[str, str] = {}
    for text, outcome in given.items():
        if outcome not in OUTCOMES:
            close = difflib.get_close_matches(str(outcome), OUTCOMES, n=1, cutoff=0.5)
            hint = f"did you mean '{close[0]}'?" if close else "write up, down or none"
            msg = f"'{text}' must map to up, down or none (got {outcome!r})"
            issues.append(smap.issue((column, "values", text), msg, "unknown-value", hint))
        else:
            out[str(text)] = str(outcome)
    return out


def plan_columns(names: Sequence[str], vocabulary: Vocabulary,
                 mapping: Mapping[str, str] | ColumnMapping | None = None,
                 ids: Sequence[str] | None = None) -> Plan:
    """Classify the input columns ``names``.

    Args:
        names: the input's column names.
        vocabulary: the fact vocabulary of the rules.
        mapping: input column → fact name (or ``conditions`` / ``actual_transfer``).
        ids: id columns to carry through (default: ``patient_id`` when the input has it).

    Raises:
        BatchUsageError: an id column the input lacks or that is also a fact or an output
            column, or two input columns holding the same fact.
    """
    transfer_values: dict[str, str] = {}
    if isinstance(mapping, ColumnMapping):
        transfer_values = mapping.transfer_values
        mapping = mapping.columns
    mapping = dict(mapping or {})
    present = set(names)
    id_columns = tuple(dict.fromkeys(ids)) if ids else (
        (DEFAULT_ID,) if DEFAULT_ID in present else ())
    for column in id_columns:
        if column not in present:
            msg = f"id column '{column}' is not in the input"
            raise BatchUsageError(msg)
        if column in OUTPUT_NAMES or column in (TRANSFER, *CARRIED_FACTS):
            msg = f"id column '{column}' has the name of an output column; rename it"
            raise BatchUsageError(msg)
    facts: list[tuple[str, str]] = []
    holder: dict[str, str] = {}
    unknown: list[str] = []
    for column in names:
        target = mapping.get(column, column)
        if column in id_columns:
            if column in mapping or column in vocabulary.facts:
                msg = f"column '{column}' cannot be both an id column and a fact"
                raise BatchUsageError(msg)
            continue
        if target in vocabulary.facts or target in (CONDITIONS, TRANSFER):
            if target in holder:
                msg = f"columns '{holder[target]}' and '{column}' both hold '{target}'"
                raise BatchUsageError(msg)
            holder[target] = column
            if target in vocabulary.facts:
                facts.append((column, target))
        else:
            unknown.append(column)
    carried = [(holder[name], name) for name in (TRANSFER, *CARRIED_FACTS) if name in holder]
    unmatched = tuple(c for c in mapping if c not in present)
    return Plan(tuple(facts), id_columns, holder.get(CONDITIONS), tuple(carried),
                tuple(unknown), unmatched, tuple(sorted(transfer_values.items())),
                _suggest(unknown, unmatched, vocabulary, set(holder)))


def _suggest(unknown: Sequence[str], unmatched: Sequence[str], vocabulary: Vocabulary,
             held: set[str]) -> tuple[tuple[str, str], ...]:
    """For each unknown column, what it was likely meant to be: a mapping entry whose column
    is missing (``收缩压 (mmHg)`` for ``收缩压``), else a fact no column holds (``spb``)."""
    free = [f for f in (*vocabulary.facts, CONDITIONS, TRANSFER) if f not in held]
    out = []
    for column in unknown:
        entry = _likely(column, unmatched)
        if entry is not None:
            out.append((column, f"the mapping's column '{entry}'"))
        elif (fact := _likely(column, free)) is not None:
            out.append((column, f"the fact '{fact}'"))
    return tuple(out)


def _likely(name: str, candidates: Sequence[str]) -> str | None:
    """The candidate ``name`` was most likely meant as: the same but for case, two letters
    swapped, inside the name with a unit or note (``heart_rate_bpm``), or a close spelling.
    Strict enough that ordinary extra columns (``name``, ``diagnosis``) match nothing."""
    key = name.strip().lower()
    lower = {c.lower(): c for c in candidates}
    if key in lower:
        return lower[key]
    for low, c in lower.items():
        if len(low) == len(key) and sorted(low) == sorted(key) and len(key) >= 3:
            return c
    inside = [c for low, c in lower.items()
              if re.search(rf"(?<![a-z0-9]){re.escape(low)}(?![a-z0-9])", key)]
    if inside:
        return max(inside, key=len)
    longer = [low for low in lower if len(low) >= 4]  # 'page' is not a misspelt 'age'
    close = difflib.get_close_matches(key, longer, n=1, cutoff=0.8)
    return lower[close[0]] if close else None


# --- cells → fact values --------------------------------------------------------------------

class Cells(NamedTuple):
    """A batch's fact columns as Python values (None: absent), and cells that could not be cast."""

    columns: list[tuple[str, list[Any], bool]]  # (fact, one value per row, has absent cells)
    issues: dict[int, list[FactIssue]]  # row → issues

    def records(self, start: int, stop: int) -> list[dict[str, Any]]:
        """The fact records of rows ``start`` to ``stop`` (absent facts left out).

        Built a slice at a time: the dicts stay in the CPU cache while they are filled and
        evaluated (twice as fast as filling a whole batch's records column by column).
        """
        out: list[dict[str, Any]] = [{} for _ in range(stop - start)]
        for fact, values, gaps in self.columns:
            if gaps:
                for record, value in zip(out, values[start:stop], strict=True):
                    if value is not None:
                        record[fact] = value
            else:
                for record, value in zip(out, values[start:stop], strict=True):
                    record[fact] = value
        return out


def read_cells(batch: pa.RecordBatch, plan: Plan, vocabulary: Vocabulary) -> Cells:
    """Cast every fact column of ``batch`` (vectorised); collect the cells that cannot be cast."""
    columns: list[tuple[str, list[Any], bool]] = []
    issues: dict[int, list[FactIssue]] = {}
    for column, fact in plan.facts:
        values, bad = _cells(batch.column(column), fact, vocabulary.facts[fact].type)
        if values is None:
            continue
        columns.append((fact, values.to_pylist() if isinstance(values, pa.Array) else values,
                        _gaps(values)))
        for i, issue in bad:
            issues.setdefault(i, []).append(issue)
    return Cells(columns, issues)


def _gaps(values: pa.Array | list[Any]) -> bool:
    if isinstance(values, pa.Array):
        return bool(values.null_count)
    return any(v is None for v in values)


_Bad = list[tuple[int, FactIssue]]


def _cells(arr: pa.Array, fact: str, kind: str) -> tuple[pa.Array | list[Any] | None, _Bad]:
    """One column's values cast to ``kind`` (null: absent), or None when every cell is absent;
    and the cells that cannot be cast."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if arr.null_count == len(arr):
        return None, []
    t = arr.type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return _text(arr, fact, kind)
    if pa.types.is_decimal(t):
        arr = pc.cast(arr, pa.float64())
        t = arr.type
    if pa.types.is_floating(t):
        arr = _null_where(pc.is_nan(arr), arr)  # NaN is an absent fact
        if kind == "integer":
            return _whole(arr), []
    if kind == "boolean" and (pa.types.is_floating(t) or pa.types.is_integer(t)):
        one, zero = pc.equal(arr, 1), pc.equal(arr, 0)
        good = pc.or_(one, zero)
        return _null_where(pc.invert(good), one), _bad(good, arr, fact, kind)
    return arr, []


def _null_where(condition: pa.Array, values: pa.Array) -> pa.Array:
    return pc.if_else(pc.fill_null(condition, False), pa.scalar(None, values.type), values)


def _whole(numbers: pa.Array) -> list[Any]:
    """Floats that are whole numbers as ints (an integer fact); others stay floats."""
    return [int(v) if v is not None and v.is_integer() else v for v in numbers.to_pylist()]


def _bad(good: pa.Array, shown: pa.Array, fact: str, kind: str) -> _Bad:
    """Issues for the present cells that are not ``good``."""
    mask = pc.and_(shown.is_valid(), pc.invert(pc.fill_null(good, True)))
    rows = np.flatnonzero(mask.to_numpy(zero_copy_only=False)).tolist()
    return [(i, _issue(fact, kind, repr(shown[i].as_py()))) for i in rows]


def _text(arr: pa.Array, fact: str, kind: str) -> tuple[pa.Array | list[Any], _Bad]:
    """A text column cast to ``kind``; blank text is absent."""
    trimmed = pc.utf8_trim_whitespace(arr)
    blank = pc.fill_null(pc.equal(trimmed, ""), True)
    trimmed = _null_where(blank, trimmed)
    if kind == "enum":  # the text itself is the value; the vocabulary judges it
        return _null_where(blank, arr), []
    if kind == "boolean":
        lower = pc.utf8_lower(trimmed)
        yes = pc.is_in(lower, value_set=pa.array(_TRUE))
        good = pc.or_(yes, pc.is_in(lower, value_set=pa.array(_FALSE)))
        return _null_where(pc.invert(good), yes), _bad(good, trimmed, fact, kind)
    good = pc.match_substring_regex(trimmed, _NUMBER, ignore_case=True)
    numbers = pc.cast(_null_where(pc.invert(good), trimmed), pa.float64())
    numbers = _null_where(pc.is_nan(numbers), numbers)
    return (_whole(numbers) if kind == "integer" else numbers), _bad(good, trimmed, fact, kind)


def _issue(fact: str, kind: str, shown: str) -> FactIssue:
    if len(shown) > 42:
        shown = shown[:39] + "..."
    if kind == "boolean":
        return FactIssue(fact, "wrong-type", f"'{fact}' must be true or false (got {shown})",
                         "write true/false, 1/0 or 是/否")
    what = "a whole number" if kind == "integer" else "a number"
    return FactIssue(fact, "wrong-type", f"'{fact}' must be {what} (got {shown})",
                     "write a plain number such as 142 or 37.5")
