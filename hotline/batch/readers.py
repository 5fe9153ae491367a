"""Streaming readers for CSV, JSONL and XLSX, chosen by file extension.

A reader exposes ``columns`` and yields ``(row, line, values)`` in input order,
where ``row`` is the 1-based data record number (header not counted), ``line``
the physical line (CSV/JSONL) or sheet row (XLSX) where the record starts, and
``values`` either a list aligned with ``columns`` or a :class:`BadRow`. Nothing
holds more than one record, so memory does not grow with the input.
"""
from __future__ import annotations

import codecs
import csv
import datetime as _dt
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from hotline.batch.errors import UnsupportedFormat

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".xlsx": "xlsx"}


class _Missing:
    """A JSONL key that a record does not have (distinct from null)."""

    def __repr__(self) -> str:
        return "MISSING"

    def __reduce__(self):
        return "MISSING"


MISSING = _Missing()
_SNIFF_BYTES = 1 << 20

# A single huge field (a pasted attachment) must not abort the run.
csv.field_size_limit(min(sys.maxsize, 1 << 31 - 1))


@dataclass(frozen=True)
class BadRow:
    code: str
    reason: str
    excerpt: str = ""
    # What the record still gives for the input columns (aligned with
    # ``columns``), so the output keeps the row; None when nothing does.
    values: list | None = None


def format_of(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise UnsupportedFormat(
            f"{path}: unsupported extension {suffix or '(none)'!r}; expected one of "
            f"{', '.join(sorted(FORMATS))}")
    return FORMATS[suffix]


def detect_encoding(path: Path) -> str:
    """UTF-8 (BOM tolerated) unless the head of the file is not UTF-8 but is
    valid GB18030, the usual encoding of Chinese Excel exports. Rows that still
    fail to decode are reported one by one, not fatally."""
    with open(path, "rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8-sig"
    except UnicodeDecodeError:
        pass
    try:
        codecs.getincrementaldecoder("gb18030")().decode(head, final=False)
        return "gb18030"
    except UnicodeDecodeError:
        return "utf-8-sig"


def count_lines(path: Path) -> int:
    n = 0
    last = b"\n"
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            n += block.count(b"\n")
            last = block[-1:]
    return n + (last != b"\n")


def open_reader(path: str | Path, encoding: str = "auto", sheet: str | None = None):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"input file {path} does not exist")
    kind = format_of(path)
    if kind == "xlsx":
        return XlsxReader(path, sheet=sheet)
    if encoding == "auto":
        encoding = detect_encoding(path)
    return (CsvReader if kind == "csv" else JsonlReader)(path, encoding)


class CsvReader:
    format = "csv"

    def __init__(self, path: Path, encoding: str):
        self.path, self.encoding = path, encoding
        # surrogateescape keeps undecodable bytes as lone surrogates, so one bad
        # row is detected and reported instead of aborting the whole file.
        self._fh = open(path, encoding=encoding, errors="surrogateescape", newline="")
        self._reader = csv.reader(self._fh)
        try:
            header = next(self._reader)
        except StopIteration:
            header = []
        self.columns = [c.strip() for c in header]
        self._total_lines = None

    def estimate_rows(self) -> int:
        return max(0, count_lines(self.path) - 1)

    def __iter__(self) -> Iterator[tuple[int, int, list | BadRow]]:
        width = len(self.columns)
        reader = self._reader
        row = 0
        while True:
            line = reader.line_num + 1
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                row += 1
                yield row, line, BadRow("bad_csv", f"unparseable CSV record: {exc}")
                continue
            if not values or (len(values) == 1 and not values[0]):
                continue  # blank line: not a record
            row += 1
            if len(values) != width:
                yield row, line, BadRow(
                    "wrong_column_count",
                    f"{len(values)} fields, the header has {width}",
                    ",".join(values)[:200], (values + [""] * width)[:width])
                continue
            yield row, line, values

    def close(self) -> None:
        self._fh.close()


class JsonlReader:
    format = "jsonl"

    def __init__(self, path: Path, encoding: str):
        self.path, self.encoding = path, encoding
        # One cheap pass for the union of keys (in first-seen order), so a
        # tabular output has every input column; memory is only the key set.
        keys: dict[str, None] = {}
        n = 0
        with open(path, encoding=encoding, errors="surrogateescape") as fh:
            for text in fh:
                if not text.strip():
                    continue
                n += 1
                try:
                    obj = json.loads(text)
                except ValueError:
                    continue
                if isinstance(obj, dict):
                    for k in obj:
                        if k not in keys:
                            keys[k] = None
        self.columns = list(keys)
        self._rows = n

    def estimate_rows(self) -> int:
        return self._rows

    def __iter__(self):
        columns = self.columns
        row = 0
        with open(self.path, encoding=self.encoding, errors="surrogateescape") as fh:
            for line, text in enumerate(fh, start=1):
                if not text.strip():
                    continue
                row += 1
                try:
                    obj = json.loads(text)
                except ValueError as exc:
                    yield row, line, BadRow("bad_json", f"not valid JSON: {exc}", text[:200])
                    continue
                if not isinstance(obj, dict):
                    yield row, line, BadRow(
                        "not_an_object", f"expected a JSON object, got {type(obj).__name__}",
                        text[:200])
                    continue
                yield row, line, [obj.get(c, MISSING) for c in columns]

    def close(self) -> None:
        pass


def cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    return str(value)


class XlsxReader:
    format = "xlsx"

    def __init__(self, path: Path, sheet: str | None = None):
        import openpyxl

        self.path = path
        # read_only streams the sheet XML; a normal load would hold every cell.
        self._wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        if sheet is not None and sheet not in self._wb.sheetnames:
            raise UnsupportedFormat(
                f"{path} has no sheet {sheet!r}; sheets: {self._wb.sheetnames}")
        self._ws = self._wb[sheet] if sheet else self._wb.worksheets[0]
        self._rows = self._ws.iter_rows(values_only=True)
        header = list(next(self._rows, ()) or ())
        while header and header[-1] is None:  # read_only pads to the sheet's width
            header.pop()
        self.columns = [cell_text(c).strip() or f"col{i + 1}" for i, c in enumerate(header)]

    def estimate_rows(self) -> int | None:
        n = self._ws.max_row
        return None if n is None else max(0, n - 1)

    def __iter__(self):
        width = len(self.columns)
        row = 0
        for line, cells in enumerate(self._rows, start=2):
            # Numbers stay numbers (an XLSX output keeps them typed); the rest is text.
            values = [c if isinstance(c, (int, float)) else cell_text(c) for c in cells]
            if all(v == "" for v in values):
                continue
            row += 1
            if len(values) > width:
                extra = [v for v in values[width:] if v != ""]
                if extra:
                    yield row, line, BadRow(
                        "wrong_column_count",
                        f"values in {len(values)} columns, the header has {width}",
                        ",".join(map(str, values))[:200], values[:width])
                    continue
                values = values[:width]
            elif len(values) < width:
                values += [""] * (width - len(values))
            yield row, line, values

    def close(self) -> None:
        self._wb.close()
