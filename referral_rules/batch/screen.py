"""The per-batch function: an Arrow batch of patients in, an Arrow batch of decisions out.

The local run and Spark call the same ``Screener.screen``, so their outputs are identical. A
``Screener`` holds one ``Engine`` (built once per process) and evaluates the rows with
``Engine.evaluate_many`` (the same decisions as ``evaluate``, matched many records at a time); a
row whose facts do not fit the vocabulary, or a CSV line that is not a row (``ROW_ERROR``), gets
``ok=false`` and its issues as JSON, and never stops the batch. ``actual_transfer`` comes out as
``up``/``down``/``none``.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Sequence
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

from .. import __version__
from ..decision import Decision
from ..errors import FactIssue, FactsError
from ..evaluate import Backend, Engine
from ..ir import Bundle
from ._csv import ROW_ERROR
from .columns import CONDITIONS, TRANSFER, Plan, read_cells
from .transfer import lookup, normalise

__all__ = ["DECISION_FIELDS", "Screener", "metadata", "output_schema", "rules_digest",
           "ruleset_refs"]

_STR = pa.string()
_LIST = pa.list_(pa.string())
_FIELDS = (
    pa.field("row", pa.int64(), nullable=False), pa.field("ok", pa.bool_(), nullable=False),
    pa.field("error", _STR), pa.field("conditions", _LIST), pa.field("direction", _STR),
    pa.field("urgency", _STR), pa.field("current_level", _STR), pa.field("target_level", _STR),
    pa.field("fired", _LIST), pa.field("criteria", _LIST), pa.field("records", _LIST),
    pa.field("refusal", _STR), pa.field("missing_facts", _LIST),
    pa.field("confirm_before_transfer", _LIST), pa.field("possible_emergencies", _LIST),
    pa.field("complete", pa.bool_()), pa.field("checks_outstanding", pa.bool_()),
)
DECISION_FIELDS = _FIELDS
"""The columns after the id and carried ones: ``row`` … ``checks_outstanding`` (Spark's schema
is made from these)."""
_Issue = dict[str, object]
_Cond = tuple[tuple[str, ...] | None, _Issue | None]  # a row's rulesets (None: all), or an issue
_SLICE = 2048  # rows whose records are built together, then evaluated per conditions


def ruleset_refs(bundle: Bundle) -> list[dict[str, str]]:
    """The files a batch is screened with (as in ``Decision.rulesets``): facts, policy, rulesets."""
    out = [{"id": "facts", "version": bundle.vocabulary.version,
            "sha256": bundle.vocabulary_sha256},
           {"id": "policy", "version": bundle.policy.spec.version, "sha256": bundle.policy.sha256}]
    out.extend({"id": rs.id, "version": rs.version, "sha256": rs.sha256}
               for rs in bundle.rulesets.values())
    return out


def rules_digest(bundle: Bundle) -> str:
    """One sha256 over every rules file's sha256 (restart manifests compare it)."""
    text = json.dumps(ruleset_refs(bundle), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def output_schema(input_schema: pa.Schema, plan: Plan) -> pa.Schema:
    """Id and carried columns with their input types, then the decision columns."""
    fields = [input_schema.field(name) for name in plan.ids]
    fields += [pa.field(name, _STR) if name == TRANSFER else
               input_schema.field(column).with_name(name) for column, name in plan.carried]
    return pa.schema([*fields, *_FIELDS])


def metadata(bundle: Bundle, backend: str, plan: Plan, input_name: str, rows: int,
             engine: str, transfer: dict[str, Any] | None = None) -> dict[bytes, bytes]:
    """Key-value metadata of an output file (values are text; lists and objects are JSON).

    ``transfer`` is the count of ``actual_transfer`` values (``TransferTally.to_dict``).
    """
    values = {
        "rulesets": json.dumps(ruleset_refs(bundle), separators=(",", ":")),
        "rules_sha256": rules_digest(bundle),
        "backend": backend,
        "engine": engine,
        "version": __version__,
        "input": input_name,
        "rows": str(rows),
        "id_columns": json.dumps(list(plan.ids), ensure_ascii=False),
        "unknown_columns": json.dumps(list(plan.unknown), ensure_ascii=False),
        "column_mapping": json.dumps({c: f for c, f in plan.facts if c != f}, ensure_ascii=False,
                                     sort_keys=True),
        "column_suggestions": json.dumps(dict(plan.suggestions), ensure_ascii=False),
    }
    if transfer is not None:
        values["actual_transfer"] = json.dumps(transfer, ensure_ascii=False,
                                               separators=(",", ":"))
    return {f"referral_rules.{k}".encode(): v.encode() for k, v in values.items()}


class Screener:
    """Screens Arrow batches with one engine. Build one per process; not thread-safe to share.

    Args:
        bundle: the rules, from ``load_rulesets``.
        backend: ``durable``, ``python`` or ``auto``.
        plan: what each input column is (``plan_columns``).
    """

    def __init__(self, bundle: Bundle, backend: Backend, plan: Plan) -> None:
        self.bundle = bundle
        self.plan = plan
        self.engine = Engine(bundle, backend)
        self.backend = self.engine.backend
        self._all = self.engine.conditions
        self._conditions: dict[Any, _Cond] = {}
        self._transfer = lookup(dict(plan.transfer_values))

    def close(self) -> None:
        """Release the engine's handles."""
        self.engine.close()

    def screen(self, batch: pa.RecordBatch, rows: pa.Array | int) -> pa.RecordBatch:
        """Decisions for every row of ``batch``, in order.

        Args:
            batch: input rows (at least the plan's columns).
            rows: the 0-based input row index of each row, or that of the first row.
        """
        n = batch.num_rows
        row = pa.array(range(rows, rows + n), pa.int64()) if isinstance(rows, int) else rows
        cells = read_cells(batch, self.plan, self.engine.vocabulary)
        conditions = self._parse_conditions(batch, n)
        unreadable = batch.column(ROW_ERROR).to_pylist() \
            if ROW_ERROR in batch.schema.names else [None] * n
        cols: dict[str, list[Any]] = {f.name: [] for f in _FIELDS[1:]}
        ok, error, conds = cols["ok"], cols["error"], cols["conditions"]
        append = [cols[f.name].append for f in _FIELDS[4:]]
        for start in range(0, n, _SLICE):
            stop = min(n, start + _SLICE)
            outcomes = self._evaluate(cells.records(start, stop), range(start, stop),
                                      conditions, unreadable, cells.issues)
            for i, outcome in zip(range(start, stop), outcomes, strict=True):
                selected, cond_issue = conditions[i]
                listed = unreadable[i] is None and cond_issue is None
                conds.append(list(selected or self._all) if listed else None)
                if isinstance(outcome, tuple):
                    ok.append(True)
                    error.append(None)
                    for add, value in zip(append, outcome, strict=True):
                        add(value)
                else:
                    ok.append(False)
                    error.append(outcome)
                    for add in append:
                        add(None)
        arrays = [batch.column(name) for name in self.plan.ids]
        arrays += [normalise(batch.column(column), self._transfer) if name == TRANSFER
                   else batch.column(column) for column, name in self.plan.carried]
        arrays.append(row)
        arrays.extend(pa.array(cols[f.name], f.type) for f in _FIELDS[1:])
        return pa.RecordBatch.from_arrays(arrays, schema=output_schema(batch.schema, self.plan))

    def _evaluate(self, records: list[dict[str, Any]], rows: range, conditions: list[_Cond],
                  unreadable: list[str | None], cast_issues: dict[int, list[FactIssue]]
                  ) -> list[tuple[Any, ...] | str]:
        """Per row of a slice: its decision columns, or its error JSON.

        Rows that can be evaluated are grouped by the rulesets they name (``evaluate_many``
        takes one ``conditions`` per call) and put back in their place, so the order is kept.
        """
        out: list[tuple[Any, ...] | str] = [""] * len(rows)
        groups: dict[tuple[str, ...] | None, list[int]] = {}
        for j, i in enumerate(rows):
            text = unreadable[i]
            if text is not None:  # a CSV line that is not a row: nothing to read
                out[j] = text
                continue
            selected, cond_issue = conditions[i]
            found: list[_Issue] = [] if cond_issue is None else [cond_issue]
            bad = cast_issues.get(i)  # cells that could not be cast are left out of record
            if bad:
                found.extend(b.to_dict() for b in bad)
            if found:  # not evaluated; the vocabulary's issues with the rest are added
                found.extend(_validation_issues(self.engine, records[j]))
                out[j] = _dump(found)
            else:
                groups.setdefault(selected, []).append(j)
        for selected, members in groups.items():
            many = self.engine.evaluate_many([records[j] for j in members], selected)
            for j, result in zip(members, many, strict=True):
                # Each decision becomes its column values at once: holding a slice of Decision
                # objects until their row comes round costs the garbage collector more.
                out[j] = _dump([x.to_dict() for x in result.issues]) \
                    if isinstance(result, FactsError) else _columns(result)
        return out

    def _parse_conditions(self, batch: pa.RecordBatch, n: int) -> list[_Cond]:
        """Per row: the rulesets to evaluate (None: all) and an issue for unknown ids."""
        if self.plan.conditions is None:
            return [(None, None)] * n
        cache = self._conditions
        out = []
        for value in batch.column(self.plan.conditions).to_pylist():
            key = tuple(value) if isinstance(value, list) else value
            hit = cache.get(key)
            if hit is None:
                hit = self._condition(value)
                if len(cache) < 4096:
                    cache[key] = hit
            out.append(hit)
        return out

    def _condition(self, value: object) -> _Cond:
        if value is None:
            return None, None
        items: Sequence[object] = value.split(",") if isinstance(value, str) else (
            value if isinstance(value, list) else [value])
        names = [str(x).strip() for x in items if x is not None and str(x).strip()]
        if not names:
            return None, None
        unknown = [x for x in names if x not in self._all]
        if unknown:
            known = ", ".join(self._all)
            close = difflib.get_close_matches(unknown[0], list(self._all), n=1)
            return None, {"fact": CONDITIONS, "code": "unknown-condition",
                          "message": f"unknown condition '{unknown[0]}'; loaded: {known}",
                          "suggestion": f"did you mean '{close[0]}'?" if close else None}
        wanted = set(names)
        return tuple(c for c in self._all if c in wanted), None


def _validation_issues(engine: Engine, record: dict[str, Any]) -> list[_Issue]:
    """The vocabulary's issues with the rest of a row that already failed (cells, conditions)."""
    try:
        engine.validate(record)
    except FactsError as exc:
        return [x.to_dict() for x in exc.issues]
    return []


def _dump(issues: list[_Issue]) -> str:
    issues.sort(key=lambda d: tuple(str(d.get(k) or "") for k in FactIssue.__dataclass_fields__))
    return json.dumps(issues, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _columns(d: Decision) -> tuple[Any, ...]:
    """direction … checks_outstanding of one decision, in ``_FIELDS`` order."""
    fired = d.fired
    confirm = [m.fact for m in d.confirm_before_transfer]
    return (
        d.direction, d.urgency, d.current_level, d.target_level,
        [r.id for r in fired],
        sorted({r.criterion for r in fired if r.criterion is not None}),
        [r.id for r in d.records],
        d.refusal.status,
        [m.fact for m in d.missing_facts],
        confirm,
        [e.rule for e in d.possible_emergencies],
        d.complete,
        d.direction == "down" and bool(confirm),
    )
