"""Agent feedback: the final type / department / chosen answer for a request.

Stored in SQLite at ``settings.home/feedback.sqlite3``, or, when the KB is on
PostgreSQL (``kb_url``), in a ``feedback`` table of the KB's database, so every
replica writes to one place (kb.db gives the connection either way). Every field the client
sends (text, comment, and the side fields: request id, region, channel, predicted
and final labels, answer id) is free text to the store and is masked with
``index.text.mask_field`` before it is written (:data:`CLIENT_COLUMNS`), so the
file can be used as training data without carrying phone or ID numbers. :meth:`FeedbackStore.export`
writes the rows in the demo work-order format (``title,detail,type,department``)
that training reads, so ``hotline train`` can include them, plus the lead /
co-handling departments (``lead_department,co_departments``, docs/dispatch.md).

The final ``department`` is the lead (主办): the order goes to it. Co-handlers
(协办, the agent's final ones and the suggested ones) are lists stored
``;``-joined (the request schema refuses ``;`` inside a name): ``NULL`` when the
client sent none, ``""`` when it sent an empty list (the agent removed them all). CSV cells that a
spreadsheet would run as a formula are escaped with a leading ``'``
(``kb.io.escape_cell``, the KB export's rule; ``kb.io.unescape_cell`` undoes it).
"""
from __future__ import annotations

import csv
import json
import time
import uuid
from pathlib import Path
from typing import Iterator

from foundation.errors import InvalidInput
from index.text import mask_field

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    request_id TEXT,
    text TEXT NOT NULL,
    region TEXT,
    channel TEXT,
    predicted_type TEXT,
    predicted_department TEXT,
    final_type TEXT,
    final_department TEXT,
    chosen_answer_id TEXT,
    comment TEXT,
    key_id TEXT
)
"""
# Columns added after the table first shipped: added to an older table when the
# store opens (_upgrade). The table is the store's own, not under kb/migrations:
# with the embedded KB it lives in feedback.sqlite3, not in the KB's file.
ADDED = ("predicted_lead_department", "predicted_co_departments", "final_co_departments")
COLUMNS = ("id", "created_at", "request_id", "text", "region", "channel", "predicted_type",
           "predicted_department", "final_type", "final_department", "chosen_answer_id",
           "comment", "key_id", *ADDED)
# Lists of department names, stored ";"-joined.
LIST_COLUMNS = ("predicted_co_departments", "final_co_departments")
# Columns whose values come from the client: all but our id, timestamp and key id.
CLIENT_COLUMNS = tuple(c for c in COLUMNS if c not in ("id", "created_at", "key_id"))


class FeedbackStore:
    def __init__(self, path: "Path | str"):
        """``path``: a SQLite file, or a ``postgresql://`` URL (the KB's database)."""
        from kb.db import open_db   # like export(): hotline/ reaches kb/ lazily

        self.db = open_db(path, timeout=10)
        self.path = self.db.path
        # The table is created where it is missing (it is the feedback store's
        # own, not part of the KB schema and its migrations). Under the KB's write
        # lock: PostgreSQL's CREATE TABLE IF NOT EXISTS can still fail when two
        # workers run it at the same moment.
        with self.db.write(lock=True) as conn:
            conn.execute(_SCHEMA)
            self._upgrade(conn)

    @staticmethod
    def _upgrade(conn) -> None:
        """Add the columns of ADDED that an older table lacks (both backends
        report a query's columns in ``cursor.description``)."""
        have = {d[0] for d in conn.execute("SELECT * FROM feedback WHERE 1=0").description}
        for col in ADDED:
            if col not in have:
                conn.execute(f"ALTER TABLE feedback ADD COLUMN {col} TEXT")

    @classmethod
    def for_settings(cls, settings) -> "FeedbackStore":
        """home/feedback.sqlite3 with the embedded KB; the KB's database otherwise."""
        if settings.kb_is_sqlite:
            return cls(settings.home / "feedback.sqlite3")
        return cls(settings.kb_database_url)

    def add(self, item: dict, key_id: str | None = None) -> dict:
        sent = {
            "request_id": item.get("request_id"),
            "text": item["text"],
            "region": item.get("region"),
            "channel": item.get("channel"),
            "predicted_type": item.get("predicted_type"),
            "predicted_department": item.get("predicted_department"),
            "final_type": item.get("type"),
            "final_department": item.get("department"),
            "chosen_answer_id": item.get("answer_id"),
            "comment": item.get("comment") or None,
            "predicted_lead_department": item.get("predicted_lead_department"),
            "predicted_co_departments": item.get("predicted_co_departments"),
            "final_co_departments": item.get("co_departments"),
        }
        lead = sent["final_department"]
        if lead and lead in (sent["final_co_departments"] or ()):
            raise InvalidInput(f"co_departments contains {lead!r}, the lead department "
                               "(department); a department is either lead or co-handler")
        for c in LIST_COLUMNS:   # masked name by name, then joined
            if sent[c] is not None:
                sent[c] = ";".join(mask_field(n) for n in sent[c])
        row = {"id": uuid.uuid4().hex,
               "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               **{c: mask_field(sent[c]) for c in CLIENT_COLUMNS}, "key_id": key_id}
        with self.db.write(lock=False) as conn:
            conn.execute(f"INSERT INTO feedback ({','.join(COLUMNS)}) "
                         f"VALUES ({','.join('?' * len(COLUMNS))})", [row[c] for c in COLUMNS])
        return row

    def count(self) -> int:
        with self.db.read() as conn:
            return conn.execute("SELECT COUNT(*) FROM feedback").fetchone()[0]

    def rows(self) -> Iterator[dict]:
        with self.db.read() as conn:
            cur = conn.execute(f"SELECT {','.join(COLUMNS)} FROM feedback ORDER BY created_at, id")
            rows = cur.fetchall()
        for r in rows:
            row = dict(zip(COLUMNS, r))
            for c in LIST_COLUMNS:
                if row[c] is not None:
                    row[c] = [n for n in row[c].split(";") if n]
            yield row

    def export(self, path: Path) -> int:
        """Training rows (title,detail,type,department,lead_department,co_departments;
        co ``;``-joined, both empty when the client sent no co-handlers) as CSV, or
        every column as JSON lines (co-handlers as lists) when ``path`` ends in
        .jsonl. Rows without a final label are kept in JSONL but skipped in CSV.
        Returns the number of rows written."""
        from kb.io import escape_cell   # like engine.py: hotline/ reaches kb/ lazily

        path = Path(path)
        n = 0
        with open(path, "w", encoding="utf-8", newline="") as fh:
            if path.suffix == ".jsonl":
                for row in self.rows():
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                    n += 1
                return n
            writer = csv.writer(fh)
            writer.writerow(["title", "detail", "type", "department", "lead_department",
                             "co_departments"])
            for row in self.rows():
                if row["final_type"] or row["final_department"]:
                    co = row["final_co_departments"]
                    # The lead is the final department; named as such only where the
                    # agent's co-handlers were sent (else lead/co are unknown).
                    lead = (row["final_department"] or "") if co is not None else ""
                    writer.writerow(["", *(escape_cell(v) for v in (
                        row["text"], row["final_type"] or "", row["final_department"] or "",
                        lead, ";".join(co or ())))])
                    n += 1
        return n
