"""A CSV file as an HIS export or Excel writes it: encoding detected, bad lines kept as rows.

One pass over the bytes at open gives the sha256 (the restart manifest), the size and the
encoding: UTF-8 (a byte-order mark is skipped), else GB18030 (a superset of GBK and GB2312, which
Excel writes on Chinese Windows; every GBK file decodes as GB18030). Trying those two in turn is
enough for the exports this tool reads, so no charset-guessing library is needed; ``--encoding``
names any other (``big5``, ``cp1252``…).

Rows are read by Arrow's CSV reader (fast, multi-threaded). When it meets a line it cannot turn
into a row (a short or long line, bytes that do not decode, a file cut off mid-row) it stops
with an error that quotes the line, so the error is dropped unread and the rest of the file is
read by Python's ``csv`` module from the first row Arrow did not deliver, line by line: each
such line becomes a row whose ``ROW_ERROR`` cell names the problem and the line number (never
its values) and whose other cells are null. Rows are numbered the same way on both paths (blank
lines are not rows), so the output keeps one row per input row, in order.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.csv as pacsv  # type: ignore[import-untyped, unused-ignore]

from .errors import BatchInputError, BatchUsageError

__all__ = ["ROW_ERROR", "CsvFile"]

ROW_ERROR = "__referral_rules_row_error__"
_BLOCK = 8 << 20
_LABELS = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8 with a byte-order mark", "gb18030": "GB18030"}


class CsvFile:
    """A CSV file: its encoding, header and rows (see the module docstring)."""

    def __init__(self, path: Path, delimiter: str, encoding: str | None = None) -> None:
        self.path = path
        self.delimiter = delimiter
        self.notes: list[str] = []
        forced = _lookup(encoding) if encoding else None
        scan = _Scan(path, forced)
        self.size, self.sha256 = scan.size, scan.sha256
        if scan.size == 0 or not scan.content:
            what = "empty (0 bytes)" if scan.size == 0 else "blank: it has no header line"
            msg = f"{path.name} is {what}"
            raise BatchInputError(msg)
        if scan.bom16 and forced is None:
            msg = (f"{path.name} is UTF-16 text (Excel's 'Unicode text'): save it as "
                   "'CSV UTF-8 (comma delimited)', or give --encoding utf-16")
            raise BatchInputError(msg)
        # the physical line a file without a final line break ends on
        self.cut_line = -1 if scan.last == b"\n" else scan.newlines + 1
        self.encoding = forced or self._detect(scan)
        self.names = self._header()

    def _detect(self, scan: _Scan) -> str:
        """UTF-8 when every byte is; else, line by line, whichever of UTF-8 and GB18030 more
        lines are (GBK text is almost never valid UTF-8, while UTF-8 text often decodes as
        GB18030 into nonsense: so a UTF-8 file with a few GBK lines stays UTF-8, and those
        lines become error rows)."""
        if scan.utf8:
            return "utf-8"
        utf8 = other = gb_bad = 0
        with self.path.open("rb") as f:
            for raw in f:
                if raw.isascii():
                    continue
                if _decodes(codecs.getincrementaldecoder("utf-8")(), raw, final=True):
                    utf8 += 1
                else:
                    other += 1
                    gb_bad += not _decodes(codecs.getincrementaldecoder("gb18030")(), raw,
                                           final=True)
        name = self.path.name
        if utf8 >= other:
            self.notes.append(f"{name}: mostly UTF-8, but {other:,} line(s) are not: those "
                              "rows come out with an error (name the encoding with --encoding)")
            return "utf-8"
        self.notes.append(f"{name}: not UTF-8; read as GB18030 (GBK), the encoding Excel uses "
                          "on Chinese Windows (force one with --encoding)")
        if gb_bad:
            self.notes.append(f"{name}: {gb_bad:,} line(s) are not GB18030 either: those rows "
                              "come out with an error")
        return "gb18030"

    @property
    def label(self) -> str:
        """The encoding's name for messages."""
        return _LABELS.get(self.encoding, self.encoding)

    def _header(self) -> list[str]:
        for _, _, record in _records(self._lines([]), self.delimiter):
            if record:
                return record
        msg = f"{self.path.name} is blank: it has no header line"
        raise BatchInputError(msg)

    def _lines(self, bad: list[int]) -> Iterator[str]:
        """The file's lines as text; the numbers of lines that do not decode go to ``bad``
        (decoded with replacement characters, so the row structure survives)."""
        codec = "utf-8-sig" if self.encoding == "utf-8" else self.encoding
        with self.path.open("rb") as f:
            for number, raw in enumerate(f, 1):
                try:
                    yield raw.decode(codec)
                except UnicodeDecodeError:
                    bad.append(number)
                    yield raw.decode(codec, errors="replace")

    def batches(self, columns: Sequence[str], size: int) -> Iterator[pa.RecordBatch]:
        """``columns`` (text) and ``ROW_ERROR`` of every row, in batches of about ``size``."""
        done = 0
        try:
            for batch in self._arrow(columns):
                done += batch.num_rows
                yield batch
            rows = done
        except (pa.ArrowException, UnicodeError, ValueError):
            rows = done  # Arrow stops at the first bad line; the rest is read line by line
            for batch in self._python(columns, size, done):
                rows += batch.num_rows
                yield batch
        if rows == 0:
            msg = f"{self.path.name} has column names but no rows"
            raise BatchInputError(msg)

    def _arrow(self, columns: Sequence[str]) -> Iterator[pa.RecordBatch]:
        convert = pacsv.ConvertOptions(
            column_types={n: pa.string() for n in columns}, include_columns=list(columns),
            strings_can_be_null=True, null_values=[""], quoted_strings_can_be_null=False)
        codec = "utf8" if self.encoding in ("utf-8", "utf-8-sig") else self.encoding
        read = pacsv.ReadOptions(block_size=_BLOCK, encoding=codec)
        parse = pacsv.ParseOptions(delimiter=self.delimiter, newlines_in_values=True)
        with pacsv.open_csv(self.path, read_options=read, parse_options=parse,
                            convert_options=convert) as reader:
            for batch in reader:
                errors = pa.nulls(batch.num_rows, pa.string())
                yield pa.RecordBatch.from_arrays([*batch.columns, errors],
                                                 names=[*batch.schema.names, ROW_ERROR])

    def _python(self, columns: Sequence[str], size: int, skip: int) -> Iterator[pa.RecordBatch]:
        """Rows from row ``skip`` on, read by Python's csv module, bad lines as error rows."""
        width = len(self.names)
        where = [self.names.index(c) for c in columns]
        bad: list[int] = []
        values: list[list[str | None]] = [[] for _ in columns]
        errors: list[str | None] = []
        records = _records(self._lines(bad), self.delimiter, width)
        next((r for r in records if r[2]), None)  # the header
        seen = 0
        for first, last, record in records:
            if record == []:
                continue  # a blank line is not a row (as for Arrow)
            seen += 1
            if seen <= skip:
                continue
            problem = self._problem(first, last, record, width, bad)
            errors.append(problem)
            for column, index in zip(values, where, strict=True):
                column.append(None if problem or record is None or not record[index]
                              else record[index])
            if len(errors) == size:
                yield _batch(columns, values, errors)
                values, errors = [[] for _ in columns], []
        if errors:
            yield _batch(columns, values, errors)

    def _problem(self, first: int, last: int, record: list[str] | None, width: int,
                 bad: list[int]) -> str | None:
        """The JSON issue of a line that is not a row, or None. Never quotes a value."""
        lines = f"line {first}" if first == last else f"lines {first}–{last}"
        if record is None:
            message = f"{lines}: not a CSV row (a value too long, or stray quotes)"
            hint = "check the quoting of this line"
        elif any(first <= n <= last for n in bad):
            message = f"{lines}: bytes that are not {self.label} text"
            hint = "save the file in one encoding (UTF-8), or name it with --encoding"
        elif len(record) == width:
            return None
        elif last == self.cut_line and len(record) < width:
            message = (f"{lines}: the file ends in the middle of this row ({len(record)} of "
                       f"{width} fields): it was cut short")
            hint = "export or copy the file again"
        else:
            message = f"{lines}: {len(record)} fields where the header has {width}"
            hint = ("a value that holds the delimiter must be quoted; a short line may have "
                    "been cut or joined by hand")
        issue = {"code": "bad-row", "fact": "", "message": message, "suggestion": hint}
        return json.dumps([issue], ensure_ascii=False, separators=(",", ":"), sort_keys=True)


class _Feed:
    """Numbered lines for the csv module, with push-back: a record that swallowed the lines
    after it (an unclosed quote in a cut line) is undone and those lines read again."""

    def __init__(self, lines: Iterable[str]) -> None:
        self._lines = enumerate(lines, 1)
        self._back: list[tuple[int, str]] = []
        self.taken: list[tuple[int, str]] = []  # since the current record began

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        item = self._back.pop() if self._back else next(self._lines)
        self.taken.append(item)
        return item[1]

    def push_back(self, items: list[tuple[int, str]]) -> None:
        self._back.extend(reversed(items))


def _records(lines: Iterable[str], delimiter: str, width: int | None = None
             ) -> Iterator[tuple[int, int, list[str] | None]]:
    """First line, last line and fields of each record (None: the csv module could not split
    it, e.g. a field over its size limit). A record of several lines whose field count is not
    ``width`` is taken as its first line alone, and the lines after it are read again."""
    feed = _Feed(lines)
    reader = csv.reader(feed, delimiter=delimiter)
    while True:
        feed.taken = []
        try:
            record: list[str] | None = next(reader)
        except StopIteration:
            return
        except csv.Error:
            record = None
        taken = feed.taken
        if not taken:
            return
        first, last = taken[0][0], taken[-1][0]
        if width is not None and len(taken) > 1 and (record is None or len(record) != width):
            feed.push_back(taken[1:])
            reader = csv.reader(feed, delimiter=delimiter)  # a fresh reader: no open quote
            last = first
            record = next(csv.reader([taken[0][1]], delimiter=delimiter), [])
        yield first, last, record


def _batch(columns: Sequence[str], values: list[list[str | None]],
           errors: list[str | None]) -> pa.RecordBatch:
    arrays = [pa.array(v, pa.string()) for v in values]
    arrays.append(pa.array(errors, pa.string()))
    return pa.RecordBatch.from_arrays(arrays, names=[*columns, ROW_ERROR])


class _Scan:
    """What one pass over the bytes tells: size, sha256, lines, encoding."""

    def __init__(self, path: Path, encoding: str | None) -> None:
        digest = hashlib.sha256()
        self.size, self.newlines, self.content, self.last = 0, 0, False, b""
        head = b""
        utf8 = codecs.getincrementaldecoder("utf-8")()
        self.utf8 = encoding is None
        with path.open("rb") as f:
            while block := f.read(_BLOCK):
                head = head or block[:4]
                digest.update(block)
                self.size += len(block)
                self.newlines += block.count(b"\n")
                self.last = block[-1:]
                self.content = self.content or bool(block.strip(b"\xef\xbb\xbf \t\r\n"))
                self.utf8 = self.utf8 and _decodes(utf8, block)
        self.utf8 = self.utf8 and _decodes(utf8, b"", final=True)
        self.sha256 = digest.hexdigest()
        self.bom16 = head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))


def _decodes(decoder: codecs.IncrementalDecoder, block: bytes, final: bool = False) -> bool:
    try:
        decoder.decode(block, final)
    except UnicodeDecodeError:
        return False
    return True


def _lookup(encoding: str) -> str:
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        msg = f"unknown encoding '{encoding}' (e.g. utf-8, gb18030, big5)"
        raise BatchUsageError(msg) from None
