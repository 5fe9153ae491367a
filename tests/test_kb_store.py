"""KBStore: validation, optimistic concurrency, validity, history/diff, change log, imports."""
import datetime as dt
import json

import pytest

from foundation.errors import Conflict, InvalidInput, NotFound
from kb import Entry, KBStore, applies_to_region, is_valid_at
from kb.errors import (EntryExists, EntryNotFound, ImportRejected, RevisionConflict,
                       ValidationError)
from kb.taxonomy import Department, Taxonomy, load_taxonomy, save_departments
from tests.conftest import KB_BACKENDS


def entry(i=1, **kw):
    base = dict(id=f"e{i:03d}", question=f"如何办理第{i}项业务", answer=f"答案{i}",
                similar_questions=[f"第{i}项怎么办"], department=["市人社局"], category=["社保"])
    base.update(kw)
    return Entry(**base)


@pytest.fixture(params=KB_BACKENDS)
def kb_backend(request):
    """Every store test here runs on SQLite and on a real PostgreSQL."""
    return request.param


@pytest.fixture
def store(kb_target):
    with KBStore(kb_target) as s:
        yield s


def fields_of(exc):
    return sorted(e.field for e in exc.value.errors)


# ------------------------------------------------------------------ validation
def test_validation_lists_every_problem_with_clear_messages(store):
    with pytest.raises(ValidationError) as exc:
        store.add(entry(question="  ", status="pending", valid_from="2025-03-01",
                        valid_to="2025-02-01", category=["a", "b", "c", "d"]))
    assert fields_of(exc) == ["category", "question", "status", "valid_to"]
    text = str(exc.value)
    assert "'pending' is not one of draft, published, retired" in text
    assert "2025-02-01 is not after valid_from 2025-03-01" in text
    assert isinstance(exc.value, InvalidInput)
    assert store.count() == 0 and store.last_seq() == 0


@pytest.mark.parametrize("changes, field, words", [
    ({"id": ""}, "id", "is empty"),
    ({"id": "has space"}, "id", "without whitespace"),
    ({"id": "a/b"}, "id", "'a/b' contains '/'"),
    ({"id": "a?b"}, "id", "contains '?'"),
    ({"id": "a#b"}, "id", "contains '#'"),
    ({"id": "a%2Fb"}, "id", "contains '%'"),
    ({"id": "a\\b"}, "id", "contains '\\\\'"),
    ({"id": "居住证\u3000办理"}, "id", "U+3000"),
    ({"id": "a\u200bb"}, "id", "U+200B"),
    ({"id": "a\u202eb"}, "id", "U+202E"),
    ({"id": "a\x07b"}, "id", "control character U+0007"),
    ({"id": ".."}, "id", "not usable in a URL"),
    ({"id": "x" * 129}, "id", "129 characters long"),
    ({"valid_from": "2025-13-01"}, "valid_from", "not an ISO date"),
    ({"valid_to": "2025/01/01"}, "valid_to", "not an ISO date"),
    ({"valid_from": "2025-01-01", "valid_to": "2025-01-01"}, "valid_to", "not after"),
    ({"tags": ["a|b"]}, "tags", "contains '|'"),
    ({"answer": "bad\x07bell"}, "answer", "control character U+0007"),
    ({"answer": "", "status": "published"}, "answer", "needs an answer"),
    ({"answer": "x" * 40_000}, "answer", "at most 32000"),
    ({"similar_questions": "not-a-list-but-ok|second", "region": 5.5}, "region", None),
])
def test_single_field_errors(store, changes, field, words):
    raw = {**entry().to_dict(), **changes}
    if words is None:   # numbers are accepted as text; 5.5 is fine, so this must pass
        assert store.add(raw).region == "5.5"
        return
    with pytest.raises(ValidationError) as exc:
        store.add(raw)
    assert [e.field for e in exc.value.errors] == [field]
    assert words in str(exc.value)


@pytest.mark.parametrize("ident", ["居住证-01", "kb.v2:003", "a;b", "...", "社保_(2024)", "é"])
def test_ids_that_are_one_url_segment_are_accepted(store, ident):
    assert store.add(entry(id=ident)).id == ident and store.get(ident).id == ident


def test_id_rule_message_states_the_allowed_form(store):
    with pytest.raises(ValidationError) as exc:
        store.add(entry(id="社保/医保"))
    message = str(exc.value.errors[0].message)
    assert "'社保/医保' contains '/'" in message and "/v1/kb/entries/<id>" in message
    assert "Chinese" in message and "/ \\ ? # %" in message


def test_an_entry_stored_under_an_old_bad_id_can_still_be_fixed_and_retired(store, monkeypatch):
    import re

    import kb.entry

    monkeypatch.setattr(kb.entry, "_ID_BAD", re.compile("(?!)"))   # the rule before it existed
    old = store.add(entry(id="old/one"))
    monkeypatch.undo()
    with pytest.raises(ValidationError):
        store.add(entry(id="new/one"))
    fixed = store.update("old/one", {"answer": "新答案"}, old.revision)
    assert store.retire("old/one", fixed.revision).status == "retired"


def test_values_are_canonicalised(store):
    e = store.add({"id": " x1 ", "question": " 问题 \r\n第二行 ", "answer": "a\r\nb",
                   "similar_questions": ["  说法一 ", "", "说法一", "说法二"], "status": ""})
    assert (e.id, e.question, e.answer) == ("x1", "问题 \n第二行", "a\nb")
    assert e.similar_questions == ["说法一", "说法二"] and e.status == "published"


def test_draft_may_lack_answer_and_unknown_fields_are_rejected(store):
    assert store.add({"id": "d1", "question": "草稿", "status": "draft"}).answer == ""
    with pytest.raises(ValidationError, match="depatment: unknown field"):
        store.add({"id": "d2", "question": "q", "answer": "a", "depatment": ["x"]})


def test_taxonomy_rejects_unknown_department_and_resolves_alias(tmp_path, kb_target):
    path = tmp_path / "departments.json"
    save_departments(path, [Department("市人社局", "社保", ("社保",), 10, ("人社局",)),
                            {"name": "市公安局", "responsibilities": "户籍", "keywords": ["户口"],
                             "reply_days": 5, "aliases": []}])
    tax = load_taxonomy(path)
    assert tax.names == ["市人社局", "市公安局"] and tax["人社局"].reply_days == 10
    with KBStore(kb_target, taxonomy=path) as s:
        assert s.add(entry(department=["人社局", "市公安局"])).department == ["市人社局", "市公安局"]
        with pytest.raises(ValidationError, match=r"'市交通局' is not in the department taxonomy"):
            s.add(entry(2, department=["市交通局"]))
    with pytest.raises(Exception, match="used by both"):
        Taxonomy([Department("A", aliases=("x",)), Department("B", aliases=("x",))])


# ------------------------------------------------------------------ revisions and conflicts
def test_add_update_retire_and_conflict_writes_nothing(store):
    e1 = store.add(entry(), by="alice")
    assert (e1.revision, e1.updated_by) == (1, "alice") and e1.updated_at.endswith("Z")
    with pytest.raises(EntryExists):
        store.add(entry())
    e2 = store.update(e1.id, {"answer": "新答案"}, base_revision=1, by="bob")
    assert e2.revision == 2 and store.get(e1.id).answer == "新答案"
    seq = store.last_seq()
    # carol edited revision 1 too: her update must fail and change nothing
    with pytest.raises(RevisionConflict) as exc:
        store.update(e1.id, {"answer": "carol 的答案"}, base_revision=1, by="carol")
    assert isinstance(exc.value, Conflict)
    assert "based on revision 1, current revision is 2" in str(exc.value)
    assert store.get(e1.id).answer == "新答案" and store.last_seq() == seq
    # a no-op update does not create a revision
    assert store.update(e1.id, {"answer": "新答案"}, base_revision=2).revision == 2
    assert store.last_seq() == seq
    e3 = store.retire(e1.id, base_revision=2, by="bob")
    assert (e3.status, e3.revision) == ("retired", 3)
    assert store.count() == 1 and store.count("published") == 0
    with pytest.raises(EntryNotFound) as nf:
        store.update("missing", {"answer": "x"}, base_revision=1)
    assert isinstance(nf.value, NotFound)
    with pytest.raises(ValidationError, match="revision: cannot be changed"):
        store.update(e1.id, {"revision": 9}, base_revision=3)


def test_conflict_between_two_processes_views(kb_target):
    a, b = KBStore(kb_target), KBStore(kb_target)
    a.add(entry())
    seen_by_a, seen_by_b = a.get("e001"), b.get("e001")
    a.update("e001", {"answer": "A"}, seen_by_a.revision)
    with pytest.raises(RevisionConflict):
        b.update("e001", {"answer": "B"}, seen_by_b.revision)
    assert b.get("e001").answer == "A"


def test_history_and_diff(store):
    store.add(entry(), by="a")
    store.update("e001", {"answer": "v2", "tags": ["新"]}, 1, by="b")
    store.retire("e001", 2, by="c")
    hist = store.history("e001")
    assert [(r.revision, r.op, r.by) for r in hist] == [(1, "add", "a"), (2, "update", "b"), (3, "retire", "c")]
    assert hist[0].entry.answer == "答案1" and hist[1].entry.answer == "v2"
    d = store.diff("e001", 1, 2)
    assert d["answer"] == ("答案1", "v2") and d["tags"] == ([], ["新"]) and "question" not in d
    assert store.diff("e001", 2, 3)["status"] == ("published", "retired")
    with pytest.raises(EntryNotFound, match=r"has no revision 7; it has \[1, 2, 3\]"):
        store.diff("e001", 1, 7)


# ------------------------------------------------------------------ validity
def test_validity_window_is_from_inclusive_to_exclusive():
    e = entry(valid_from="2025-01-01", valid_to="2025-07-01")
    assert not is_valid_at(e, "2024-12-31")
    assert is_valid_at(e, "2025-01-01") and is_valid_at(e, dt.date(2025, 6, 30))
    assert not is_valid_at(e, dt.datetime(2025, 7, 1, 8, 0))
    assert is_valid_at(entry(), "1990-01-01") and is_valid_at(entry(valid_to="2030-01-01"), "2029-12-31")
    with pytest.raises(ValueError):
        is_valid_at(e, "next tuesday")


def test_validity_and_region_filtering(store):
    store.add(entry(1))
    store.add(entry(2, valid_from="2025-01-01", valid_to="2025-12-31"))
    store.add(entry(3, valid_to="2024-06-01"))
    store.add(entry(4, region="临江区"))
    store.add(entry(5, status="draft"))
    ids = lambda it: [e.id for e in it]
    assert ids(store.iter_entries("published", valid_at="2025-03-01")) == ["e001", "e002", "e004"]
    assert ids(store.iter_entries("published", valid_at="2024-03-01")) == ["e001", "e003", "e004"]
    assert ids(store.iter_entries(region="东湖区")) == ["e001", "e002", "e003", "e005"]
    assert applies_to_region(entry(region="临江区"), None)
    s = store.stats(now="2025-03-01")
    assert (s["total"], s["published"], s["draft"], s["valid_today"], s["regional"]) == (5, 4, 1, 3, 1)


# ------------------------------------------------------------------ change log
def test_change_log_is_monotonic_and_incremental(store, kb_target):
    assert store.last_seq() == 0 and store.changes_since(0) == []
    store.add(entry(1))
    store.add(entry(2))
    mark = store.last_seq()
    store.update("e001", {"answer": "x"}, 1)
    store.retire("e002", 1)
    report = store.import_rows([entry(1, answer="x").to_dict(), entry(3).to_dict()])
    assert (report.added, report.unchanged) == (1, 1)
    later = store.changes_since(mark)
    assert [(c.entry_id, c.op, c.revision) for c in later] == [
        ("e001", "update", 2), ("e002", "retire", 2), ("e003", "add", 1)]
    seqs = [c.seq for c in store.changes_since(0)]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs) == store.last_seq()
    assert [c.seq for c in store.changes_since(0, limit=2)] == seqs[:2]
    with KBStore(kb_target) as reopened:   # persisted
        assert reopened.last_seq() == seqs[-1]


def test_reader_never_sees_an_uncommitted_import(kb_target):
    writer, reader = KBStore(kb_target), KBStore(kb_target)
    writer.add(entry(0))
    seen = []

    def progress(phase, n, total):
        if phase == "write":   # inside the import's transaction
            seen.append((reader.last_seq(), reader.count(), len(reader.changes_since(0))))
            # a process opening the KB now must not wait for the writer
            with KBStore(kb_target, timeout=0.1) as late:
                seen.append((late.last_seq(), late.count(), len(late.changes_since(0))))

    rows = [entry(i).to_dict() for i in range(1, 4501)]
    writer.import_rows(rows, progress=progress)
    assert seen and all(s == (1, 1, 1) for s in seen)
    assert reader.last_seq() == 4501 and reader.count() == 4501


# ------------------------------------------------------------------ imports
def test_import_is_all_or_nothing_and_lists_every_bad_row(store):
    store.add(entry(1))
    before = (store.count(), store.last_seq())
    rows = [entry(2).to_dict(), {"id": "e003", "question": "", "answer": "a"},
            entry(4).to_dict(), {"id": "e005", "question": "q", "answer": "a", "status": "gone"},
            entry(2, question="重复").to_dict()]
    with pytest.raises(ImportRejected) as exc:
        store.import_rows(rows)
    assert [(e.row, e.field) for e in exc.value.errors] == [(2, "question"), (4, "status"), (5, "id")]
    assert "first used in row 1" in str(exc.value.errors[-1])
    assert "the KB was not changed" in str(exc.value)
    assert (store.count(), store.last_seq()) == before
    report = store.import_rows(rows, skip_invalid=True)
    assert (report.added, len(report.rejected)) == (2, 3)
    assert sorted(e.id for e in store.iter_entries()) == ["e001", "e002", "e004"]


def test_upsert_rejects_stale_rows_and_replace_deletes_missing(store):
    for i in (1, 2, 3):
        store.add(entry(i))
    exported = [e.to_dict() for e in store.iter_entries()]
    store.update("e001", {"answer": "someone else"}, 1)
    edited = [dict(d) for d in exported]
    edited[0]["answer"] = "my edit from the old export"
    with pytest.raises(ImportRejected, match="based on revision 1 but the KB has revision 2"):
        store.import_rows(edited)
    edited[1]["answer"] = "fine"
    report = store.import_rows(edited[1:], by="sheet")
    assert (report.updated, report.unchanged) == (1, 1)
    assert store.get("e002").revision == 2 and store.get("e002").updated_by == "sheet"
    report = store.import_rows([entry(1).to_dict(), entry(9).to_dict()], mode="replace")
    assert (report.added, report.updated, report.deleted) == (1, 1, 2)
    assert [e.id for e in store.iter_entries()] == ["e001", "e009"]
    assert [c.op for c in store.changes_since(report.first_seq - 1)][-2:] == ["delete", "delete"]
    assert store.history("e003")[-1].op == "delete"
    with pytest.raises(ImportRejected, match="refusing to replace"):
        store.import_rows([], mode="replace")
    with pytest.raises(InvalidInput, match="'merge' is not one of upsert, replace"):
        store.import_rows([], mode="merge")
    # a deleted id added again continues its revision numbering
    store.add(entry(3))
    assert store.get("e003").revision == 2


def test_import_preserves_revision_metadata_for_new_entries(store):
    row = {**entry(1).to_dict(), "revision": 7, "updated_at": "2024-05-01T10:00:00Z", "updated_by": "old"}
    store.import_rows([row])
    e = store.get("e001")
    assert (e.revision, e.updated_at, e.updated_by) == (7, "2024-05-01T10:00:00Z", "old")
    assert json.loads(json.dumps(e.to_dict())) == e.to_dict()


def test_a_writer_blocked_too_long_gets_kb_busy(kb_target):
    from foundation.errors import NotReady
    from kb.errors import KBBusy
    writer, other = KBStore(kb_target), KBStore(kb_target, timeout=0.2)
    caught = []

    def progress(phase, n, total):
        if phase == "write" and not caught:
            with pytest.raises(KBBusy, match="locked by another writer") as exc:
                other.add(entry(999))
            caught.append(exc.value)

    writer.import_rows([entry(1).to_dict()], progress=progress)
    assert caught and isinstance(caught[0], NotReady)
    assert other.add(entry(999)).revision == 1   # free again after the commit


# ------------------------------------------------------------------ migrations
def test_a_database_newer_than_the_code_is_refused(kb_target):
    from kb.errors import KBError
    from kb.migrate import latest

    with KBStore(kb_target) as s:
        s.add(entry(1))
        with s._write() as con:
            con.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
        code = latest(s.db.dialect)
    with pytest.raises(KBError, match=f"schema version 99, newer than this software's version {code}"):
        KBStore(kb_target)


def test_a_kb_file_written_before_migrations_opens_unchanged(tmp_path):
    """Schema version 1 as the store wrote it before numbered migrations existed."""
    import sqlite3

    from kb.migrate import MIGRATIONS, migrate, statements

    path = tmp_path / "kb.sqlite3"
    con = sqlite3.connect(path)
    for stmt in statements(MIGRATIONS / "sqlite" / "0001_initial.sql"):
        con.execute(stmt)
    con.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    con.execute("INSERT INTO entries VALUES ('e001', 1, 'published', '', NULL, NULL, ?)",
                (json.dumps(entry(1, revision=1).to_dict(), ensure_ascii=False),))
    con.commit()
    tables = con.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall()
    con.close()
    with KBStore(path) as s:
        assert s.get("e001").answer == "答案1" and migrate(s.db) == (1, 1)
    con = sqlite3.connect(path)
    assert con.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall() == tables


# ------------------------------------------------------------------ concurrency (replicas)
def test_concurrent_updates_from_one_base_exactly_one_wins(kb_target):
    """Four writers (separate stores: separate connections, as replicas have)
    update one entry from the same base revision at once."""
    import threading

    stores = [KBStore(kb_target) for _ in range(4)]
    stores[0].add(entry(1))
    barrier, results = threading.Barrier(4), []

    def edit(i):
        barrier.wait()
        try:
            stores[i].update("e001", {"answer": f"A{i}"}, base_revision=1, by=f"w{i}")
            results.append("ok")
        except RevisionConflict:
            results.append("409")

    threads = [threading.Thread(target=edit, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["409", "409", "409", "ok"]
    history = stores[1].history("e001")
    assert [r.revision for r in history] == [1, 2]
    assert history[-1].entry.answer == stores[2].get("e001").answer


def test_a_follower_never_skips_a_change_committed_late(kb_target):
    """Writers in threads, a follower reading ``seq > last`` as the index does:
    every change is seen exactly once, in order (PostgreSQL: the write lock
    keeps a smaller seq from committing after a larger one is visible)."""
    import threading

    writers = [KBStore(kb_target) for _ in range(3)]
    follower = KBStore(kb_target)
    seen, done = [], threading.Event()

    def write(w, store):
        for i in range(40):
            store.add(entry(1000 * (w + 1) + i))

    def follow():
        last = 0
        while True:
            finished = done.is_set()
            for change in follower.changes_since(last):
                seen.append(change.seq)
                last = change.seq
            if finished:
                return

    reader = threading.Thread(target=follow)
    reader.start()
    threads = [threading.Thread(target=write, args=(w, s)) for w, s in enumerate(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    reader.join()
    assert seen == [c.seq for c in follower.changes_since(0)] and len(seen) == 120
