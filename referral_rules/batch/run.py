"""The local batch run: every core, restartable, one Parquet file out.

The parent reads the input in chunks of an exact number of rows and hands each chunk (as Arrow
IPC bytes) to a pool of worker processes (``spawn``; each builds its ``Screener`` once, in
the pool initializer). A worker writes its chunk's decisions to ``OUTPUT.parts/part-NNNNNN.arrow``
atomically (temporary name, then rename). ``OUTPUT.parts/manifest.json`` records what the parts
were made from (the input's sha256, the rules' sha256, the chunk size, the backend, the column
plan); a rerun with the same manifest skips the parts already there, so an interrupted run
resumes without duplicates. The parent appends the parts to a temporary output file in order
as they arrive; when the last is in, it renames the file over OUTPUT and removes the parts
(``_parts.py``).

Everything that can be checked before screening is: the input can be read, the rules and the
column mapping are valid, the output and report paths can be written, and under ``--strict`` no
column looks like a misspelt fact and every ``actual_transfer`` value means up, down or none.
Workers end with the parent, however it ends (``_workers.py``).
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

from .. import __version__
from ..evaluate import Backend, resolve_backend
from ..ir import Bundle
from ..link import load_rulesets
from ._csv import ROW_ERROR
from ._parts import Assembler, OutputWriter, open_parts, write_part
from ._workers import guard_worker, stop_on_sigterm, terminate
from .columns import TRANSFER, Plan, plan_columns, read_mapping
from .errors import BatchFailed, BatchRejected, BatchUsageError
from .screen import Screener, metadata, output_schema, rules_digest
from .source import Source, exact_chunks, open_input
from .transfer import TransferTally, lookup

__all__ = ["BatchOptions", "BatchResult", "check_writable", "count_transfers", "prepare",
           "report_columns", "run_batch"]


@dataclass(frozen=True)
class BatchOptions:
    """What to screen and how.

    Attributes:
        input: a ``.parquet`` or ``.csv`` file, one patient per row.
        output: the Parquet file to write.
        rules: the rules directory (or a Bundle already loaded from one: worker processes
            load ``bundle.directory`` and check it has not changed).
        backend: ``durable``, ``python`` or ``auto`` (durable_rules when importable).
        workers: worker processes (default: every core); 1 screens in this process.
        chunk_rows: rows per part (the unit of restart and of work handed to a worker).
        id_columns: columns carried through untouched (default: ``patient_id`` if present).
        columns: a column-mapping YAML file, ``{input column: fact name}``.
        progress: show a progress bar on stderr (only when it is a terminal).
        encoding: a CSV's encoding (default: detected; UTF-8, else GB18030).
        strict: fail before screening when a column looks like a misspelt fact or mapping
            entry, or an ``actual_transfer`` value is not a known way of writing up, down or
            none (``BatchRejected``).
        report: the report that will be written from the output: its paths are checked
            before screening.
    """

    input: Path
    output: Path
    rules: str | Path | Bundle = Path("rulesets")
    backend: Backend = "auto"
    workers: int | None = None
    chunk_rows: int = 25_000
    id_columns: tuple[str, ...] = ()
    columns: Path | None = None
    progress: bool = True
    encoding: str | None = None
    strict: bool = False
    report: Path | None = None


@dataclass(frozen=True)
class BatchResult:
    """What a run did."""

    output: Path
    rows: int
    failed: int  # rows with ok=false
    backend: str
    seconds: float
    parts_reused: int
    unknown_columns: tuple[str, ...] = field(default=())
    transfer: dict[str, Any] | None = None  # TransferTally.to_dict() of actual_transfer
    suggestions: tuple[tuple[str, str], ...] = field(default=())  # (column, meant as)


def check_writable(path: Path, what: str) -> None:
    """Fail now, not after the screening, when ``path`` cannot be written as a file."""
    if path.is_dir():
        msg = f"the {what} {path} is a directory; name a file"
        raise BatchUsageError(msg)
    folder = path.resolve().parent
    if not folder.is_dir():
        msg = f"the {what}'s folder {folder} does not exist"
        raise BatchUsageError(msg)
    if not os.access(folder, os.W_OK | os.X_OK):
        msg = f"cannot write the {what} in {folder} (no permission, or a read-only disk)"
        raise BatchUsageError(msg)


def prepare(options: BatchOptions) -> tuple[Source, Plan, Bundle]:
    """Open the input, load the rules and the mapping, plan the columns and check the output
    paths, before any screening."""
    if options.chunk_rows < 1:
        msg = f"chunk size must be at least 1 (got {options.chunk_rows})"
        raise BatchUsageError(msg)
    outputs = [(options.output, "output")]
    if options.report is not None:
        outputs += [(options.report, "report"), (options.report.with_suffix(".json"), "report")]
    for path, what in outputs:
        check_writable(path, what)
    if options.report is not None and options.report.resolve() in (
            options.output.resolve(), options.report.with_suffix(".json").resolve()):
        msg = "the report must have its own name (not the output's, and not ending in .json)"
        raise BatchUsageError(msg)
    source = open_input(options.input, options.encoding)
    if options.output.resolve() == source.path.resolve():
        msg = "the output must not be the input file"
        raise BatchUsageError(msg)
    bundle = options.rules if isinstance(options.rules, Bundle) else load_rulesets(options.rules)
    mapping = read_mapping(options.columns, bundle.vocabulary) if options.columns else None
    plan = plan_columns(source.names, bundle.vocabulary, mapping, options.id_columns)
    if options.strict and plan.suggestions:
        msg = "; ".join(f"column '{c}' is not read (did you mean {m}?)"
                        for c, m in plan.suggestions)
        msg_0 = f"--strict: {msg}"
        raise BatchRejected(msg_0)
    return source, plan, bundle


def report_columns(plan: Plan, err: IO[str], source: Source | None = None) -> None:
    """Say once what the reader decided, which input columns are ignored (with a did-you-mean
    where one is likely) and which mapping entries found nothing."""
    for note in source.notes if source is not None else []:
        err.write(note + "\n")
    if plan.unknown:
        err.write(f"ignored {len(plan.unknown)} column(s) that are not facts: "
                  f"{', '.join(plan.unknown)}\n")
    for column, meant in plan.suggestions:
        err.write(f"column '{column}' is not read: did you mean {meant}? (rename it, or map "
                  f"it with --columns)\n")
    if plan.unmatched:
        err.write(f"column mapping: not in the input: {', '.join(plan.unmatched)}\n")


def _transfer_tally(plan: Plan) -> TransferTally | None:
    column = next((c for c, name in plan.carried if name == TRANSFER), None)
    return None if column is None else TransferTally(column, lookup(dict(plan.transfer_values)))


def count_transfers(source: Source, plan: Plan, size: int) -> TransferTally | None:
    """A pass over the ``actual_transfer`` column alone (for ``--strict``, before screening,
    and for the Spark run)."""
    tally = _transfer_tally(plan)
    if tally is not None:
        for batch in source.batches([tally.column], size):
            tally.add(batch.column(tally.column), _readable(batch))
    return tally


def _readable(batch: pa.RecordBatch) -> pa.Array | None:
    if ROW_ERROR not in batch.schema.names:
        return None
    return batch.column(ROW_ERROR).is_null()


def _strict_transfers(tally: TransferTally | None) -> None:
    line = tally.summary() if tally is not None else None
    if line is not None:
        msg = f"--strict: {line}"
        raise BatchRejected(msg)


def run_batch(options: BatchOptions, stderr: IO[str] | None = None) -> BatchResult:
    """Screen every row of ``options.input`` into ``options.output``.

    Raises:
        RulesetError: the rules or the column mapping are invalid.
        BatchUsageError: the input or the options do not fit together.
        BatchFailed: a worker died; rerun to resume from the parts written.
    """
    err = stderr or sys.stderr
    started = time.perf_counter()
    source, plan, bundle = prepare(options)
    report_columns(plan, err, source)
    # actual_transfer is counted before screening when that is cheap (one Parquet column) or
    # needed (--strict fails early); else as the CSV's chunks pass by, before its output opens
    early = options.strict or source.rows is not None
    tally = count_transfers(source, plan, options.chunk_rows) if early else _transfer_tally(plan)
    if options.strict:
        _strict_transfers(tally)
    backend: Backend = resolve_backend(options.backend)
    digest = rules_digest(bundle)
    parts = options.output.with_name(options.output.name + ".parts")
    manifest = {"format": 1, "version": __version__, "input": source.fingerprint(),
                "rules_sha256": digest, "backend": backend, "chunk_rows": options.chunk_rows,
                "plan": plan.to_dict()}
    done = open_parts(parts, manifest, err)
    schema = output_schema(source.schema, plan)

    def open_output(rows: int) -> OutputWriter:
        meta = metadata(bundle, backend, plan, source.path.name, rows, "local",
                        tally.to_dict() if tally is not None else None)
        return OutputWriter(options.output, schema.with_metadata(meta))

    assembler = Assembler(parts, open_output, source.rows)
    workers = max(1, options.workers or os.cpu_count() or 1)
    if source.rows is not None:
        workers = min(workers, max(1, -(-source.rows // options.chunk_rows) - len(done)))
    bar = _progress(source.rows, options.progress and err.isatty(), err)
    chunks = _Chunks(source, plan, options.chunk_rows, done, bar, assembler,
                     None if early else tally)
    try:
        with stop_on_sigterm(str(parts)):
            _run(options, bundle, backend, plan, digest, parts, workers, chunks, bar,
                 assembler)
    except BaseException:
        assembler.abort()
        raise
    finally:
        bar.close()
    out = assembler.finish(chunks.count)
    if tally is not None and (line := tally.summary()) is not None:
        err.write(line + "\n")
    return BatchResult(options.output, out.rows, out.failed, backend,
                       time.perf_counter() - started, len(done), plan.unknown,
                       tally.to_dict() if tally is not None else None, plan.suggestions)


def _run(options: BatchOptions, bundle: Bundle, backend: Backend, plan: Plan, digest: str,
         parts: Path, workers: int, chunks: _Chunks, bar: Any, assembler: Assembler) -> None:
    if workers == 1:
        _STATE.update(screener=Screener(bundle, backend, plan), parts=parts)
        try:
            for index, batch in chunks:
                bar.update(_screen(index, batch, options.chunk_rows))
                assembler.add(index)
        finally:
            _STATE.pop("screener").close()
    else:
        args = (str(Path(bundle.directory).resolve()), backend, plan, digest, str(parts),
                os.getpid())
        _pool(workers, args, chunks, options.chunk_rows, bar, assembler)


class _Chunks:
    """The input's chunks still to screen; chunks already done go straight to the assembler."""

    def __init__(self, source: Source, plan: Plan, size: int, done: set[int], bar: Any,
                 assembler: Assembler, tally: TransferTally | None) -> None:
        self.batches = exact_chunks(source.batches(plan.columns, size), size)
        self.done = done
        self.bar = bar
        self.assembler = assembler
        self.tally = tally  # actual_transfer is counted here, as every chunk passes by
        self.count = 0  # chunks seen so far (all of them once iteration ends)

    def __iter__(self) -> Iterator[tuple[int, pa.RecordBatch]]:
        for index, batch in enumerate(self.batches):
            self.count = index + 1
            if self.tally is not None:
                self.tally.add(batch.column(self.tally.column), _readable(batch))
            if index in self.done:
                self.bar.update(batch.num_rows)
                self.assembler.add(index)
                continue
            yield index, batch


def _pool(workers: int, args: tuple[Any, ...], chunks: _Chunks, size: int, bar: Any,
          assembler: Assembler) -> None:
    # spawn, not forkserver: a worker's parent must be this process for PR_SET_PDEATHSIG to
    # end it when this process dies (a forkserver outlives us while its children hold its fd)
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init, initargs=args)
    pending: dict[Future[int], int] = {}

    def collect(finished: set[Future[int]]) -> None:
        for future in sorted(finished, key=pending.__getitem__):
            bar.update(future.result())
            assembler.add(pending.pop(future))

    try:
        for index, batch in chunks:
            pending[pool.submit(_screen_ipc, index, _to_ipc(batch), size)] = index
            while len(pending) >= 2 * workers:
                collect(wait(pending, return_when=FIRST_COMPLETED)[0])
        while pending:
            collect(wait(pending, return_when=FIRST_COMPLETED)[0])
    except BrokenProcessPool as exc:
        terminate(pool)
        msg = "a worker process died; the parts written so far are kept: rerun to resume"
        raise BatchFailed(msg) from exc
    except BaseException:  # Ctrl-C, SIGTERM, a damaged input: stop the workers now
        terminate(pool)
        raise
    pool.shutdown(wait=True)


# --- in the worker processes ----------------------------------------------------------------

_STATE: dict[str, Any] = {}


def _init(rules: str, backend: Backend, plan: Plan, digest: str, parts: str,
          batch_pid: int) -> None:
    """Build this process's Screener once (the pool initializer); end with the parent."""
    guard_worker(batch_pid)
    bundle = load_rulesets(rules)
    if rules_digest(bundle) != digest:
        msg = "the rules changed while the batch was running"
        raise BatchFailed(msg)
    _STATE["screener"] = Screener(bundle, backend, plan)
    _STATE["parts"] = Path(parts)
    gc.freeze()  # the rules and the engine live as long as the process: never scan them


def _screen_ipc(index: int, data: bytes, size: int) -> int:
    with pa.ipc.open_stream(data) as reader:
        batch = reader.read_next_batch()
    return _screen(index, batch, size)


def _screen(index: int, batch: pa.RecordBatch, size: int) -> int:
    """Screen one chunk and write it as a part; return its row count."""
    screener: Screener = _STATE["screener"]
    out = screener.screen(batch, index * size)
    write_part(_STATE["parts"], index, out)
    return int(out.num_rows)


def _to_ipc(batch: pa.RecordBatch) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return bytes(sink.getvalue())


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int | None, show: bool, err: IO[str]) -> Any:
    """A tqdm bar on ``err`` (rows only: never an identifier), or nothing."""
    if not show:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit=" rows", unit_scale=True, file=err, desc="screening",
                dynamic_ncols=True)
