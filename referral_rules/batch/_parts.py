"""The restart state of a run and the writing of its output.

``OUTPUT.parts/`` holds ``manifest.json`` (what the parts are made from) and one Arrow IPC file
per chunk, ``part-NNNNNN.arrow``, each written under a temporary name and renamed, so a part
that exists is complete. The output is written in row order as parts become available, to a
temporary file that is renamed over OUTPUT only when every part is in; the parts are removed
after that. A run that dies leaves its parts; a rerun with the same manifest skips them.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

from .errors import BatchFailed

__all__ = ["Assembler", "OutputWriter", "open_parts", "part_path", "write_part"]

MANIFEST = "manifest.json"
_IPC = pa.ipc.IpcWriteOptions(compression="lz4")


def part_path(parts: Path, index: int) -> Path:
    """Where chunk ``index``'s part lives."""
    return parts / f"part-{index:06d}.arrow"


def write_part(parts: Path, index: int, batch: pa.RecordBatch) -> None:
    """Write one chunk's decisions atomically (temporary name, then rename)."""
    path = part_path(parts, index)
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, batch.schema,
                                                            options=_IPC) as writer:
        writer.write_batch(batch)
    os.replace(tmp, path)


def _read_part(path: Path) -> pa.Table:
    with pa.memory_map(str(path)) as source:
        return pa.ipc.open_file(source).read_all()


def open_parts(parts: Path, manifest: dict[str, Any], err: IO[str]) -> set[int]:
    """The chunks already done for this very manifest; anything else is cleared first."""
    path = parts / MANIFEST
    if path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            old = None
        if old == manifest:
            for stale in parts.glob("*.tmp*"):
                stale.unlink()
            done = {int(p.name[5:11]) for p in parts.glob("part-*.arrow")}
            if done:
                err.write(f"resuming: {len(done)} part(s) already done in {parts}\n")
            return done
        err.write(f"{parts} was made from another input, rules or options: starting afresh\n")
    if parts.exists():
        shutil.rmtree(parts)
    parts.mkdir(parents=True)
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return set()


class OutputWriter:
    """One Parquet file written under a temporary name, renamed into place by ``close``.

    Temporary files left by an earlier run that died are removed first.
    """

    def __init__(self, output: Path, schema: pa.Schema) -> None:
        self.output = output
        self.schema = schema
        for stale in output.parent.glob(f".{output.name}.tmp*"):
            stale.unlink()
        self.tmp = output.with_name(f".{output.name}.tmp{os.getpid()}")
        self.writer = pq.ParquetWriter(self.tmp, schema)
        self.rows = 0
        self.failed = 0  # rows with ok=false

    def write(self, table: pa.Table) -> None:
        """Append ``table`` (one row group)."""
        table = table.cast(self.schema.remove_metadata()).replace_schema_metadata(
            self.schema.metadata)
        self.rows += table.num_rows
        self.failed += table.num_rows - int(pc.sum(table.column("ok")).as_py() or 0)
        self.writer.write_table(table)

    def close(self) -> None:
        """Finish the file, flush it to disk and rename it over the output."""
        self.writer.close()
        with self.tmp.open("rb") as f:
            os.fsync(f.fileno())
        os.replace(self.tmp, self.output)

    def abort(self) -> None:
        """Drop the temporary file (the output, if any, is left as it was)."""
        self.writer.close()
        self.tmp.unlink(missing_ok=True)


class Assembler:
    """Writes the parts into the output in chunk order, as soon as each one's turn comes.

    Args:
        parts: the parts directory.
        open_output: makes the OutputWriter for a given total row count. It is called at once
            when the count is known in advance (Parquet input), else when ``finish`` learns it.
        rows: the input's row count, if known.
    """

    def __init__(self, parts: Path, open_output: Callable[[int], OutputWriter],
                 rows: int | None) -> None:
        self.parts = parts
        self.open_output = open_output
        self.out = open_output(rows) if rows is not None else None
        self.rows = rows
        self.ready: set[int] = set()
        self.next = 0

    def add(self, index: int) -> None:
        """Part ``index`` exists; write every part whose turn has come."""
        self.ready.add(index)
        self._flush()

    def _flush(self) -> None:
        if self.out is None:
            return
        while self.next in self.ready:
            self.out.write(_read_part(part_path(self.parts, self.next)))
            self.ready.discard(self.next)
            self.next += 1

    def finish(self, chunks: int) -> OutputWriter:
        """Write the remaining parts, check all ``chunks`` are in, rename the output into place
        and remove the parts."""
        try:
            if self.out is None:
                total = sum(_rows(part_path(self.parts, i)) for i in sorted(self.ready))
                self.out = self.open_output(total)
                self.rows = total
            self._flush()
            if self.next != chunks or self.out.rows != self.rows:
                msg = (f"the output has {self.out.rows} rows from {self.next} parts but the "
                       f"input has {self.rows} rows in {chunks} chunks: rerun to finish")
                raise BatchFailed(msg)
        except BaseException:
            self.abort()
            raise
        self.out.close()
        shutil.rmtree(self.parts)
        return self.out

    def abort(self) -> None:
        """Stop writing the output; the parts stay for a rerun."""
        if self.out is not None:
            self.out.abort()


def _rows(path: Path) -> int:
    with pa.memory_map(str(path)) as source:
        reader = pa.ipc.open_file(source)
        return sum(reader.get_batch(i).num_rows for i in range(reader.num_record_batches))
