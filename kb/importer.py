"""Bulk import: validate everything first, then write in ONE transaction with
executemany. Any invalid row rejects the whole import (unless skip_invalid);
a process killed halfway leaves the KB as it was, because nothing is
committed until the end (SQLite rolls back an uncommitted WAL tail on open).
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Callable, Iterable, Mapping

from foundation.errors import InvalidInput
from kb.entry import Entry
from kb.errors import ImportRejected, RowError
from kb.store import _CHUNK, ImportReport, KBStore, _content, _dumps, now_iso

MODES = ("upsert", "replace")
_LOG = "INSERT INTO changes(entry_id, op, revision, at, by, data) VALUES (?,?,?,?,?,?)"
Progress = Callable[[str, int, "int | None"], None]


def _validate(store: KBStore, rows: Iterable, report: ImportReport, progress: Progress | None):
    errors: list[RowError] = []
    entries: list[tuple[int, Entry]] = []
    first_row: dict[str, int] = {}
    mentioned: set[str] = set()   # ids named by any row, valid or not
    pending = 0
    for n, item in enumerate(rows, 1):
        row, raw = item if isinstance(item, tuple) else (n, item)
        report.rows += 1
        pending += 1
        if progress and pending == 500:
            progress("validate", pending, None)
            pending = 0
        if isinstance(raw, RowError):
            errors.append(raw)
            continue
        if not isinstance(raw, Mapping):
            errors.append(RowError(row, "", "row", f"expected a mapping of fields, got {type(raw).__name__}"))
            continue
        if raw.get("id") is not None:
            mentioned.add(str(raw.get("id")).strip())
        entry, errs = store.check(raw, row)
        if errs:
            errors.extend(errs)
        elif entry.id in first_row:
            errors.append(RowError(row, entry.id, "id",
                                   f"duplicate id in this import; first used in row {first_row[entry.id]}"))
        else:
            first_row[entry.id] = row
            entries.append((row, entry))
    if progress and pending:
        progress("validate", pending, None)
    return entries, errors, mentioned


def run_import(store: KBStore, rows: Iterable, mode: str = "upsert", skip_invalid: bool = False,
               by: str = "import", progress: Progress | None = None,
               label: str = "import") -> ImportReport:
    """``rows``: dicts (numbered 1, 2, ...) or ``(row_number, dict | RowError)`` pairs.

    New entries keep the file's revision/updated_at/updated_by when given (so a
    restored export is identical to the original); changed entries get the next
    revision; entries whose content is unchanged are not touched. In upsert mode
    a row carrying a revision older than the KB's is stale and rejected."""
    if mode not in MODES:
        raise InvalidInput(f"import mode {mode!r} is not one of {', '.join(MODES)}")
    t0 = time.perf_counter()
    report = ImportReport(mode)
    entries, errors, mentioned = _validate(store, rows, report, progress)
    if mode == "replace" and not entries:
        raise ImportRejected(errors, f"{label}: no valid rows; refusing to replace the whole KB "
                                     "with nothing; the KB was not changed")
    now = now_iso()
    with store._write() as con:
        before = con.execute("SELECT COALESCE(MAX(seq), 0) FROM changes").fetchone()[0]
        existing = {i: (rev, data) for i, rev, data in con.execute("SELECT id, revision, data FROM entries")}
        history = dict(con.execute("SELECT entry_id, MAX(revision) FROM changes GROUP BY entry_id"))
        upserts, logs = [], []
        for row, entry in entries:
            current = existing.get(entry.id)
            if current is None:
                entry = entry.replace(revision=entry.revision or history.get(entry.id, 0) + 1,
                                      updated_at=entry.updated_at or now,
                                      updated_by=entry.updated_by or by)
                op = "add"
                report.added += 1
            else:
                cur_rev, cur_data = current
                old = _content(cur_data)
                if old == entry.content():
                    report.unchanged += 1
                    continue
                if mode == "upsert" and entry.revision and entry.revision != cur_rev:
                    errors.append(RowError(row, entry.id, "revision",
                                           f"row is based on revision {entry.revision} but the KB has "
                                           f"revision {cur_rev} (changed since it was exported); "
                                           "re-export and redo the edit"))
                    continue
                op = "retire" if entry.status == "retired" and old["status"] != "retired" else "update"
                entry = entry.replace(revision=cur_rev + 1, updated_at=now, updated_by=by)
                report.updated += 1
            data = _dumps(entry)
            upserts.append(KBStore._row(entry, data))
            logs.append((entry.id, op, entry.revision, now, by, data))
        deletes = []
        if mode == "replace":
            keep = mentioned | {e.id for _, e in entries}
            for ident, (rev, data) in existing.items():
                if ident not in keep:
                    deletes.append((ident,))
                    logs.append((ident, "delete", rev, now, by, data))
            report.deleted = len(deletes)
        errors.sort(key=lambda e: (e.row or 0))
        report.rejected = errors
        if errors and not skip_invalid:
            bad_rows = len({e.row for e in errors})
            raise ImportRejected(errors, f"{label}: import rejected, {bad_rows} invalid row(s), "
                                         f"{len(errors)} error(s); the KB was not changed")
        total = len(upserts) + len(deletes)
        for i in range(0, len(upserts), _CHUNK):
            con.executemany(KBStore._UPSERT, upserts[i:i + _CHUNK])
            con.executemany(_LOG, logs[i:i + _CHUNK])
            if progress:
                progress("write", len(upserts[i:i + _CHUNK]), total)
        if deletes:
            con.executemany("DELETE FROM entries WHERE id=?", deletes)
            con.executemany(_LOG, logs[len(upserts):])
            if progress:
                progress("write", len(deletes), total)
        after = con.execute("SELECT COALESCE(MAX(seq), 0) FROM changes").fetchone()[0]
    report.first_seq = before + 1 if after > before else 0
    report.last_seq = after
    report.seconds = time.perf_counter() - t0
    return report


def import_file(store: KBStore, path: str | Path, mode: str = "upsert", skip_invalid: bool = False,
                report_path: str | Path | None = None, progress: bool = True,
                by: str = "import") -> ImportReport:
    from kb.io import read_rows, write_report

    path = Path(path)
    bars: dict = {}

    def show(phase: str, n: int, total: int | None) -> None:
        if phase not in bars:
            from tqdm import tqdm

            bars[phase] = tqdm(total=total, desc=f"{phase} {path.name}", unit=" rows",
                               file=sys.stderr, leave=False, disable=None)
        bars[phase].update(n)

    try:
        report = run_import(store, read_rows(path), mode=mode, skip_invalid=skip_invalid, by=by,
                            progress=show if progress else None, label=str(path))
    finally:
        for bar in bars.values():
            bar.close()
    if report.rejected and report_path is not None:
        report.report_path = str(write_report(report_path, report.rejected))
    return report
