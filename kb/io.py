"""Reading and writing KB files: CSV, JSONL and XLSX, chosen by extension.

Columns are the Entry fields in declaration order. List fields are joined by
``|`` in CSV/XLSX cells and are JSON lists in JSONL; empty dates are empty
cells / ``null``. Writers are deterministic (fixed column order, fixed XLSX
document properties and zip timestamps) so export -> import -> export is
byte-identical. Readers yield ``(row_number, dict)`` with spreadsheet-style row
numbers (header = 1) or JSONL line numbers; a row that cannot even be parsed
is yielded as a ``RowError`` so the import can list it with the others.

CSV cells that a spreadsheet would run as a formula are escaped on the way out
and unescaped on the way in (``escape_cell`` / ``unescape_cell``, also used by
the feedback export); XLSX cells are written as typed strings, which are never
formulas, so they need no escape.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import tempfile
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from kb.entry import FIELDS, LIST_FIELDS, LIST_SEP, Entry
from kb.errors import ImportRejected, KBFileNotFound, RowError, UnsupportedFormat

FORMATS = (".csv", ".jsonl", ".xlsx")
REQUIRED_COLUMNS = ("id", "question", "answer")
SHEET = "kb"
# Fixed so that two exports of the same entries are byte-identical.
_FIXED_TIME = "2000-01-01T00:00:00Z"
_ZIP_TIME = (2000, 1, 1, 0, 0, 0)
_CORE_TIME = re.compile(rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)")


@dataclass(frozen=True)
class FileLimits:
    """What an import file may hold; beyond these it is refused with
    ``UnsupportedFormat`` before (XLSX) or while (CSV) it is parsed, and the
    KB is not changed. Documented in docs/kb.md, "File limits"."""

    max_columns: int = 200                      # cells in one row, header included (CSV, XLSX)
    max_cell_chars: int = 2**20                 # characters in one CSV cell
    max_line_chars: int = 16 * 2**20            # characters in one physical CSV line
    xlsx_max_members: int = 1_000               # files inside the XLSX zip archive
    xlsx_max_total_bytes: int = 200 * 2**20     # their declared uncompressed sizes, summed
    xlsx_max_ratio: float = 100                 # uncompressed / compressed size of one member ...
    xlsx_ratio_min_bytes: int = 2**20           # ... that unpacks to more than this


DEFAULT_LIMITS = FileLimits()


def file_format(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise UnsupportedFormat(
            f"cannot tell the format of {path}: extension {suffix or '(none)'!r}, "
            f"expected one of {', '.join(FORMATS)}")
    return suffix


# ------------------------------------------------------ CSV formula escape
# OWASP "CSV injection": a spreadsheet runs a cell starting with = + - @ as a
# formula, and drops a leading tab / CR first (so "\t=1+1" is "=1+1"). Such a
# cell gets one "'" in front, which makes it plain text to a spreadsheet. A cell
# that already starts with "'" gets one too, so the escape can be undone exactly.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_ESCAPED = FORMULA_START + ("'",)


def escape_cell(value: Any) -> Any:
    """``value`` with a leading ``'`` when it is text starting with one of
    ``= + - @ \\t \\r '``; anything else unchanged. ``unescape_cell`` undoes it."""
    if isinstance(value, str) and value.startswith(_ESCAPED):
        return "'" + value
    return value


def unescape_cell(value: Any) -> Any:
    """Undo ``escape_cell``: drop one leading ``'`` when the next character is one
    ``escape_cell`` escapes. ``unescape_cell(escape_cell(x)) == x`` for every x; a
    cell like ``'abc`` (no escape added) is left as it is."""
    if isinstance(value, str) and value[:1] == "'" and value[1:2] in _ESCAPED:
        return value[1:]
    return value


# ------------------------------------------------------------------ writing
def _cells(entry: Entry) -> list[Any]:
    d = entry.to_dict()
    out = []
    for name in FIELDS:
        value = d[name]
        if name in LIST_FIELDS:
            value = LIST_SEP.join(value)
        out.append(value)
    return out


@contextlib.contextmanager
def _atomic(path: Path, mode: str = "w", **kwargs):
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_entries(path: str | Path, entries: Iterable[Entry]) -> int:
    """Write entries to ``path`` (format from the extension), atomically. Returns the count."""
    path = Path(path)
    fmt = file_format(path)
    with _atomic(path) as tmp:
        if fmt == ".csv":
            # utf-8-sig: Excel only recognises UTF-8 CSV with a BOM.
            with open(tmp, "w", encoding="utf-8-sig", newline="") as fh:
                writer = csv.writer(fh)
                writer.writerow(FIELDS)
                n = 0
                for entry in entries:
                    writer.writerow(["" if v is None else escape_cell(v) for v in _cells(entry)])
                    n += 1
        elif fmt == ".jsonl":
            with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
                n = 0
                for entry in entries:
                    fh.write(json.dumps(entry.to_dict(), ensure_ascii=False) + "\n")
                    n += 1
        else:
            n = _write_xlsx(tmp, entries)
    return n


def _write_xlsx(tmp: str, entries: Iterable[Entry]) -> int:
    import openpyxl
    from openpyxl.cell import WriteOnlyCell

    wb = openpyxl.Workbook(write_only=True)
    wb.properties.creator = "hotline-kb"
    ws = wb.create_sheet(SHEET)
    ws.append(list(FIELDS))
    n = 0
    for entry in entries:
        row = []
        for value in _cells(entry):
            if value == "" or value is None:
                row.append(None)
            elif isinstance(value, str):
                cell = WriteOnlyCell(ws, value=value)
                cell.data_type = "s"    # a text starting with '=' must stay text, not a formula
                row.append(cell)
            else:
                row.append(value)
        ws.append(row)
        n += 1
    raw = io.BytesIO()
    wb.save(raw)
    _normalise_zip(raw.getvalue(), tmp)
    return n


def _normalise_zip(data: bytes, out_path: str) -> None:
    """Rewrite the package with fixed member timestamps and document times
    (openpyxl stamps both with the current time)."""
    with zipfile.ZipFile(io.BytesIO(data)) as src, \
            zipfile.ZipFile(out_path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                body = _CORE_TIME.sub(rb"\g<1>" + _FIXED_TIME.encode() + rb"\g<3>", body)
            member = zipfile.ZipInfo(info.filename, date_time=_ZIP_TIME)
            member.compress_type = zipfile.ZIP_DEFLATED
            member.external_attr = 0o600 << 16
            dst.writestr(member, body, compresslevel=6)


# ------------------------------------------------------------------ reading
def _check_header(header: list, path: Path) -> list[str]:
    names = ["" if h is None else str(h).strip().lstrip("\ufeff") for h in header]
    errors = []
    seen = set()
    for i, name in enumerate(names, 1):
        if not name:
            errors.append(RowError(1, "", f"column {i}", "header cell is empty"))
        elif name in seen:
            errors.append(RowError(1, "", name, "column appears twice"))
        elif name not in FIELDS:
            errors.append(RowError(1, "", name, f"unknown column; expected some of {', '.join(FIELDS)}"))
        seen.add(name)
    for name in REQUIRED_COLUMNS:
        if name not in seen:
            errors.append(RowError(1, "", name, "required column is missing "
                                   f"(minimal columns: {','.join(REQUIRED_COLUMNS)})"))
    if errors:
        raise ImportRejected(errors, f"{path}: bad header row; the KB was not changed")
    return names


def _blank(values) -> bool:
    return all(v is None or (isinstance(v, str) and not v.strip()) for v in values)


def _tabular(rows: Iterator, path: Path, limits: FileLimits) -> Iterator[tuple[int, dict | RowError]]:
    try:
        header = list(next(rows))
    except StopIteration:
        raise ImportRejected([RowError(1, "", "header", "file is empty")],
                             f"{path}: empty file; the KB was not changed") from None
    _check_width(header, 1, path, limits)
    names = _check_header(header, path)
    width = len(names)
    for number, values in enumerate(rows, 2):
        values = list(values)
        _check_width(values, number, path, limits)
        if _blank(values):
            continue
        if len(values) > width and not _blank(values[width:]):
            yield number, RowError(number, str(values[0] or ""), "row",
                                   f"has {len(values)} cells, the header has {width} columns")
            continue
        values = values[:width] + [None] * (width - len(values))
        yield number, dict(zip(names, values))


def _check_width(values: list, row: int, path: Path, limits: FileLimits) -> None:
    if len(values) > limits.max_columns:
        raise UnsupportedFormat(
            f"{path}: row {row} has {len(values):,} cells, at most {limits.max_columns:,} columns "
            f"allowed (a KB file has at most {len(FIELDS)}); refused; the KB was not changed")


def read_rows(path: str | Path, limits: FileLimits = DEFAULT_LIMITS) -> Iterator[tuple[int, dict | RowError]]:
    """The rows of an import file. Raises ``UnsupportedFormat`` for a file over
    ``limits`` (an XLSX archive at once, before anything is unpacked)."""
    path = Path(path)
    fmt = file_format(path)
    if not path.is_file():
        raise KBFileNotFound(f"import file {path} does not exist")
    if fmt == ".csv":
        return _read_csv(path, limits)
    if fmt == ".jsonl":
        return _read_jsonl(path)
    check_xlsx_archive(path, limits)
    return _read_xlsx(path, limits)


def _read_csv(path: Path, limits: FileLimits):
    with open(path, encoding="utf-8-sig", newline="") as fh:
        try:
            yield from _tabular(_csv_records(fh, path, limits), path, limits)
        except UnicodeDecodeError as exc:
            raise ImportRejected([RowError(None, "", "encoding", f"not UTF-8: {exc}")],
                                 f"{path}: cannot be read; the KB was not changed") from None


# csv.field_size_limit is one value for the whole process (hotline.batch.readers
# raises it for work-order files): set ours around each record, under a lock.
_FIELD_LIMIT_LOCK = threading.Lock()


def _csv_records(fh, path: Path, limits: FileLimits) -> Iterator[list]:
    """CSV records with ``unescape_cell`` applied; a cell over ``max_cell_chars``,
    a physical line over ``max_line_chars`` or a record the csv module cannot
    parse refuses the file (``UnsupportedFormat``) naming the row."""
    row = 1   # the record being read: spreadsheet row number, header = 1

    def refuse(problem: str) -> UnsupportedFormat:
        return UnsupportedFormat(f"{path}: row {row}: {problem}; refused; the KB was not changed")

    def lines() -> Iterator[str]:   # never holds more than one bounded line
        while True:
            line = fh.readline(limits.max_line_chars + 1)
            if not line:
                return
            if len(line) > limits.max_line_chars:
                raise refuse(f"a line is longer than {limits.max_line_chars:,} characters "
                             f"(a cell may hold at most {limits.max_cell_chars:,})")
            yield line

    reader = csv.reader(lines())
    while True:
        with _FIELD_LIMIT_LOCK:
            previous = csv.field_size_limit(limits.max_cell_chars)
            try:
                record = next(reader, None)
            except csv.Error as exc:
                if "field larger than field limit" in str(exc):
                    raise refuse(f"a cell is longer than {limits.max_cell_chars:,} characters, "
                                 "the most a KB file may hold") from None
                raise refuse(f"not valid CSV ({exc})") from None
            finally:
                csv.field_size_limit(previous)
        if record is None:
            return
        yield [unescape_cell(v) for v in record]
        row += 1


def _read_jsonl(path: Path):
    with open(path, encoding="utf-8-sig") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, RowError(number, "", "json", f"not valid JSON: {exc.msg} at column {exc.colno}")
                continue
            if not isinstance(obj, dict):
                yield number, RowError(number, "", "json", f"expected an object, got {type(obj).__name__}")
                continue
            yield number, obj


def check_xlsx_archive(path: str | Path, limits: FileLimits = DEFAULT_LIMITS) -> None:
    """Refuse a zip bomb before openpyxl unpacks anything: the member count, each
    member's declared uncompressed size against its compressed size (for members
    over ``xlsx_ratio_min_bytes``) and the declared total. The declared sizes bind:
    zipfile never returns more than a member's declared size (a member that
    unpacks to more fails its CRC check). A file that is not a zip archive at all
    passes here and is reported by the reader as before."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except Exception:   # not a zip archive: _read_xlsx reports it
        return
    refused = "refused unread; the KB was not changed"
    if len(infos) > limits.xlsx_max_members:
        raise UnsupportedFormat(f"{path}: the XLSX archive has {len(infos):,} members, at most "
                                f"{limits.xlsx_max_members:,} allowed; {refused}")
    for info in infos:
        if info.file_size > limits.xlsx_ratio_min_bytes and \
                info.file_size > limits.xlsx_max_ratio * max(info.compress_size, 1):
            raise UnsupportedFormat(
                f"{path}: XLSX member {info.filename!r} unpacks {info.compress_size:,} bytes to "
                f"{info.file_size:,} (ratio {info.file_size / max(info.compress_size, 1):,.0f}); "
                f"at most ratio {limits.xlsx_max_ratio:g} is allowed for members over "
                f"{limits.xlsx_ratio_min_bytes:,} bytes (a zip bomb?); {refused}")
    total = sum(info.file_size for info in infos)
    if total > limits.xlsx_max_total_bytes:
        largest = max(infos, key=lambda info: info.file_size)
        raise UnsupportedFormat(
            f"{path}: the XLSX archive unpacks to {total:,} bytes (largest member "
            f"{largest.filename!r}: {largest.file_size:,}); at most "
            f"{limits.xlsx_max_total_bytes:,} bytes allowed; {refused}")


def _read_xlsx(path: Path, limits: FileLimits):
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:   # openpyxl raises zipfile/KeyError/... for broken files
        raise ImportRejected([RowError(None, "", "file", f"not a readable XLSX workbook: {exc}")],
                             f"{path}: cannot be read; the KB was not changed") from None
    try:
        ws = wb[SHEET] if SHEET in wb.sheetnames else wb.worksheets[0]
        yield from _tabular(ws.iter_rows(values_only=True), path, limits)
    finally:
        wb.close()


def write_report(path: str | Path, errors: Iterable[RowError]) -> Path:
    """The rows an import skipped, one line per problem (CSV: row,id,field,message)."""
    path = Path(path)
    with _atomic(path) as tmp:
        with open(tmp, "w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["row", "id", "field", "message"])
            for e in errors:
                writer.writerow(["" if e.row is None else e.row,
                                 *(escape_cell(v) for v in (e.id, e.field, e.message))])
    return path
