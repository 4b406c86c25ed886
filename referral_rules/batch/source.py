"""Reading the input: Parquet or CSV (by suffix), streamed in batches of an exact size.

CSV cells are read as text (``column_types`` string for every column): the vocabulary decides
how a cell is cast (``columns.py``), so CSV and Parquet go through the same rules, and an id such
as ``000123`` keeps its leading zeros. An empty CSV cell is null.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.csv as pacsv  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

from .errors import BatchUsageError

__all__ = ["Source", "exact_chunks", "open_input"]

_CSV = (".csv", ".txt", ".tsv")
_PARQUET = (".parquet", ".pq", ".parq")


class Source:
    """A Parquet or CSV input file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        suffix = path.suffix.lower()
        if suffix in _PARQUET:
            self.kind = "parquet"
            self._file: pq.ParquetFile | None = pq.ParquetFile(path)
            self.schema: pa.Schema = self._file.schema_arrow
            self.rows: int | None = self._file.metadata.num_rows
        elif suffix in _CSV:
            self.kind = "csv"
            self._file = None
            with pacsv.open_csv(path, parse_options=self._parse()) as reader:
                names = reader.schema.names
            self.schema = pa.schema([pa.field(n, pa.string()) for n in names])
            self.rows = None
        else:
            msg = f"{path.name}: the input must be .parquet or .csv (got '{path.suffix}')"
            raise BatchUsageError(msg)
        self.names: list[str] = list(self.schema.names)
        if len(set(self.names)) != len(self.names):
            dup = sorted({n for n in self.names if self.names.count(n) > 1})
            msg = f"{path.name}: duplicate column names: {', '.join(dup)}"
            raise BatchUsageError(msg)

    def _parse(self) -> pacsv.ParseOptions:
        return pacsv.ParseOptions(delimiter="\t" if self.path.suffix.lower() == ".tsv" else ",")

    def batches(self, columns: Sequence[str], size: int) -> Iterator[pa.RecordBatch]:
        """The ``columns`` of every row, in order, in batches of about ``size`` rows."""
        if self._file is not None:
            yield from self._file.iter_batches(batch_size=size, columns=list(columns),
                                               use_threads=True)
            return
        convert = pacsv.ConvertOptions(
            column_types={n: pa.string() for n in columns}, include_columns=list(columns),
            strings_can_be_null=True, null_values=[""], quoted_strings_can_be_null=False)
        read = pacsv.ReadOptions(block_size=8 << 20)
        with pacsv.open_csv(self.path, read_options=read, parse_options=self._parse(),
                            convert_options=convert) as reader:
            yield from reader

    def fingerprint(self) -> dict[str, object]:
        """Name, size and sha256 of the file's content (a restart checks it is unchanged)."""
        digest = hashlib.sha256()
        with self.path.open("rb") as f:
            while block := f.read(8 << 20):
                digest.update(block)
        return {"name": self.path.name, "size": self.path.stat().st_size,
                "sha256": digest.hexdigest()}


def open_input(path: str | Path) -> Source:
    """Open ``path`` (Parquet or CSV by suffix)."""
    p = Path(path)
    if not p.is_file():
        msg = f"no such input file: {p}"
        raise BatchUsageError(msg)
    return Source(p)


def exact_chunks(batches: Iterator[pa.RecordBatch], size: int) -> Iterator[pa.RecordBatch]:
    """Re-cut ``batches`` into batches of exactly ``size`` rows (the last may be shorter).

    Chunk ``i`` always holds input rows ``[i*size, (i+1)*size)``, whatever the reader's own
    batch sizes: a restart finds the same chunks.
    """
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        offset = 0
        while offset < batch.num_rows:
            take = min(size - count, batch.num_rows - offset)
            pending.append(batch.slice(offset, take))
            count += take
            offset += take
            if count == size:
                yield _combine(pending)
                pending, count = [], 0
    if count:
        yield _combine(pending)


def _combine(parts: list[pa.RecordBatch]) -> pa.RecordBatch:
    if len(parts) == 1:
        return parts[0]
    return pa.Table.from_batches(parts).combine_chunks().to_batches()[0]
