"""Append-only spool files with byte offsets (what a checkpoint records) and
the final conversion to the requested output format.

CSV and JSONL outputs are written in their final format into a partial file
and renamed at the end. XLSX cannot be appended to, so its rows are spooled
as JSON lines and written through openpyxl's streaming writer at the end.
"""
from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Iterable, Sequence

from hotline.batch.errors import BatchError
from hotline.batch.readers import MISSING

XLSX_MAX_ROWS = 1_048_576 - 1  # one row for the header


class AppendFile:
    """A binary file we only append to; ``offset`` is the committed length.
    Reopening with an offset truncates whatever a killed run wrote after its
    last checkpoint, so no row can appear twice."""

    def __init__(self, path: Path, offset: int = 0):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        mode = "r+b" if self.path.exists() else "w+b"
        self._fh = open(self.path, mode)
        self._fh.truncate(offset)
        self._fh.seek(offset)
        self.offset = offset

    def write(self, data: bytes) -> None:
        self._fh.write(data)
        self.offset += len(data)

    def sync(self) -> None:
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()


def _safe(text: str) -> str:
    """Lone surrogates (undecodable input bytes) cannot be written as UTF-8."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _tabular(value) -> str | float | int:
    if value is MISSING or value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return str(value).lower()
    return value


def _pred_cell(value):
    return ("true" if value else "false") if value is True or value is False else value


class RowFormatter:
    """Turns (input values, prediction values) into bytes of the spool format."""

    def __init__(self, out_format: str, in_columns: Sequence[str], pred_columns: Sequence[str],
                 plain_strings: bool = False):
        pred = set(pred_columns)
        # Re-running over an earlier output replaces its prediction columns.
        self.keep = [i for i, c in enumerate(in_columns) if c not in pred]
        self.columns = [in_columns[i] for i in self.keep] + list(pred_columns)
        self.out_format = out_format
        # CSV input holds only strings: rows can be written as they are (hot path).
        self._plain = plain_strings and len(self.keep) == len(in_columns)

    def header(self) -> bytes:
        if self.out_format != "csv":
            return b""
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(self.columns)
        return buf.getvalue().encode("utf-8")

    def rows(self, rows: Iterable[tuple[Sequence, Sequence]]) -> bytes:
        keep = self.keep
        if self.out_format == "csv":
            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\n")
            if self._plain:
                w.writerows([*values, *map(_pred_cell, pred)] for values, pred in rows)
            else:
                w.writerows([_tabular(values[i]) for i in keep] + [_tabular(p) for p in pred]
                            for values, pred in rows)
            return _safe(buf.getvalue()).encode("utf-8")
        lines = []
        if self.out_format == "jsonl":
            cols = self.columns
            for values, pred in rows:
                obj = {cols[j]: values[i] for j, i in enumerate(keep) if values[i] is not MISSING}
                obj.update(zip(cols[len(keep):], pred))
                lines.append(json.dumps(obj, ensure_ascii=False))
        else:  # xlsx spool: one JSON list per row
            for values, pred in rows:
                lines.append(json.dumps([_tabular(values[i]) for i in keep] + list(pred),
                                        ensure_ascii=False))
        return _safe("\n".join(lines) + "\n").encode("utf-8") if lines else b""


def finalize_output(spool: Path, out: Path, out_format: str, columns: Sequence[str],
                    rows: int) -> None:
    """Move the finished spool to ``out`` atomically (XLSX: convert first)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out_format != "xlsx":
        os.replace(spool, out)
        return
    if rows > XLSX_MAX_ROWS:
        raise BatchError(f"{rows} rows do not fit in one XLSX sheet (max {XLSX_MAX_ROWS}); "
                         f"write CSV or JSONL instead")
    import openpyxl
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("reclassified")
    ws.append(list(columns))
    with open(spool, encoding="utf-8") as fh:
        for line in fh:
            ws.append([ILLEGAL_CHARACTERS_RE.sub("", v) if isinstance(v, str) else v
                       for v in json.loads(line)])
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        wb.save(tmp)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    os.unlink(spool)


ERROR_COLUMNS = ("row", "line", "code", "reason", "text")


def error_lines(errors: Iterable[tuple[int, int, str, str, str]], header: bool) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    if header:
        w.writerow(ERROR_COLUMNS)
    for row, line, code, reason, text in errors:
        w.writerow([row, line, code, reason, text[:200]])
    return _safe(buf.getvalue()).encode("utf-8")
