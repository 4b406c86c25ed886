"""Reading the input: Parquet or CSV (by suffix), streamed in batches of an exact size.

CSV cells are read as text (``column_types`` string for every column): the vocabulary decides
how a cell is cast (``columns.py``), so CSV and Parquet go through the same rules, and an id such
as ``000123`` keeps its leading zeros. An empty CSV cell is null.

A CSV is read as what an HIS export or Excel really writes (``_csv.py``): its encoding is
detected (UTF-8 with or without a byte-order mark, else GB18030, the superset of GBK that Excel
uses on Chinese Windows) unless ``encoding`` names one. A line that cannot be a row (too few or
too many fields, bytes that are not text in that encoding, a file cut off mid-row) becomes a row
of its own whose ``ROW_ERROR`` names the problem and the line, and never the line's values; the
other rows are read as usual. A file that cannot be read at all (empty, a Parquet file cut
short) is a ``BatchInputError``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

from ._csv import ROW_ERROR, CsvFile
from .errors import BatchInputError, BatchUsageError

__all__ = ["ROW_ERROR", "Source", "exact_chunks", "open_input"]

_CSV = (".csv", ".txt", ".tsv")
_PARQUET = (".parquet", ".pq", ".parq")


class Source:
    """A Parquet or CSV input file.

    Raises:
        BatchUsageError: a suffix that is neither Parquet nor CSV, duplicate column names.
        BatchInputError: the file cannot be read (empty, not Parquet, cut short, no header).
    """

    def __init__(self, path: Path, encoding: str | None = None) -> None:
        self.path = path
        suffix = path.suffix.lower()
        self._csv: CsvFile | None = None
        self._file: pq.ParquetFile | None = None
        self.encoding: str | None = None  # a CSV's encoding, as detected or given
        if suffix in _PARQUET:
            self.kind = "parquet"
            self._file = _parquet(path)
            self.schema: pa.Schema = self._file.schema_arrow
            self.rows: int | None = self._file.metadata.num_rows
            if self.rows == 0:
                msg = f"{path.name} has no rows"
                raise BatchInputError(msg)
        elif suffix in _CSV:
            self.kind = "csv"
            self._csv = CsvFile(path, "\t" if suffix == ".tsv" else ",", encoding)
            self.encoding = self._csv.encoding
            self.schema = pa.schema([pa.field(n, pa.string()) for n in self._csv.names])
            self.rows = None
        else:
            msg = f"{path.name}: the input must be .parquet or .csv (got '{path.suffix}')"
            raise BatchUsageError(msg)
        self.names: list[str] = list(self.schema.names)
        if len(set(self.names)) != len(self.names):
            dup = sorted({n for n in self.names if self.names.count(n) > 1})
            msg = f"{path.name}: duplicate column names: {', '.join(dup)}"
            raise BatchUsageError(msg)

    @property
    def notes(self) -> list[str]:
        """What the reader had to decide about the file (its encoding, a missing last line
        break): one line each, for stderr."""
        return list(self._csv.notes) if self._csv is not None else []

    def batches(self, columns: Sequence[str], size: int) -> Iterator[pa.RecordBatch]:
        """The ``columns`` of every row, in order, in batches of about ``size`` rows.

        A CSV's batches also hold ``ROW_ERROR`` (null, or the JSON issue of a line that is not
        a row). Raises ``BatchInputError`` when a Parquet file turns out damaged, or a CSV has
        no rows.
        """
        if self._csv is not None:
            yield from self._csv.batches(columns, size)
            return
        assert self._file is not None
        done = 0
        try:
            for batch in self._file.iter_batches(batch_size=size, columns=list(columns),
                                                 use_threads=True):
                done += batch.num_rows
                yield batch
        except (pa.ArrowException, OSError) as exc:
            msg = (f"{self.path.name} is damaged: the rows after row {done:,} cannot be read "
                   f"({type(exc).__name__})")
            raise BatchInputError(msg) from None

    def fingerprint(self) -> dict[str, object]:
        """Name, size and sha256 of the file's content (a restart checks it is unchanged)."""
        if self._csv is not None:
            return {"name": self.path.name, "size": self._csv.size, "sha256": self._csv.sha256}
        digest = hashlib.sha256()
        with self.path.open("rb") as f:
            while block := f.read(8 << 20):
                digest.update(block)
        return {"name": self.path.name, "size": self.path.stat().st_size,
                "sha256": digest.hexdigest()}


def _parquet(path: Path) -> pq.ParquetFile:
    size = path.stat().st_size
    if size == 0:
        msg = f"{path.name} is empty (0 bytes)"
        raise BatchInputError(msg)
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError):
        msg = (f"{path.name} is not a readable Parquet file ({size:,} bytes, no valid Parquet "
               f"footer): it was probably cut short while being written or copied")
        raise BatchInputError(msg) from None


def open_input(path: str | Path, encoding: str | None = None) -> Source:
    """Open ``path`` (Parquet or CSV by suffix); ``encoding`` forces a CSV's encoding."""
    p = Path(path)
    if not p.is_file():
        msg = f"no such input file: {p}"
        raise BatchUsageError(msg)
    return Source(p, encoding)


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
