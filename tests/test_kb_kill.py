"""An import killed with SIGKILL halfway leaves the KB exactly as it was."""
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from kb import Entry, KBStore

ROOT = Path(__file__).resolve().parents[1]

# Runs a real import in a child process; once the write phase has begun (rows
# already handed to SQLite inside the open transaction) it says so and waits
# to be killed.
CHILD = r"""
import sys, time
from kb import KBStore
from kb.io import read_rows
store = KBStore(sys.argv[1])
def progress(phase, n, total):
    if phase == "write":
        print("WRITING", flush=True)
        time.sleep(60)
store.import_rows(read_rows(sys.argv[2]), progress=progress)
print("FINISHED", flush=True)
"""


def make_kb(tmp_path, n_new):
    db = tmp_path / "kb.sqlite3"
    store = KBStore(db)
    store.import_rows([Entry(id=f"old{i:04d}", question=f"旧问题{i}", answer="旧答案").to_dict()
                       for i in range(50)])
    src = tmp_path / "big.csv"
    # the new file also changes every old entry, so a partial write would show
    rows = [Entry(id=f"old{i:04d}", question=f"旧问题{i}", answer="新答案") for i in range(50)]
    rows += [Entry(id=f"new{i:05d}", question=f"新问题{i}", answer="答案" * 40,
                   similar_questions=[f"说法{i}"]) for i in range(n_new)]
    tmp = KBStore(tmp_path / "export-src.sqlite3")
    tmp.import_rows([e.to_dict() for e in rows])
    tmp.export_file(src)
    snapshot = [e.to_dict() for e in store.iter_entries()], store.last_seq()
    store.close()
    return db, src, snapshot


def assert_untouched(db, snapshot):
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    store = KBStore(db)
    assert ([e.to_dict() for e in store.iter_entries()], store.last_seq()) == snapshot
    return store


def test_sigkill_during_import_transaction_leaves_kb_unchanged(tmp_path):
    db, src, snapshot = make_kb(tmp_path, 6000)
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(db), str(src)], cwd=ROOT,
                             stdout=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline().strip()
        assert line == "WRITING"
        wal = Path(str(db) + "-wal")
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    assert wal.exists()
    store = assert_untouched(db, snapshot)
    # the KB is usable afterwards and the same import now succeeds in full
    report = store.import_file(src, progress=False)
    assert (report.added, report.updated) == (6000, 50)
    assert store.get("old0000").answer == "新答案" and store.get("old0000").revision == 2


def test_sigkill_of_cli_import_is_all_or_nothing(tmp_path):
    """The real command killed as soon as it starts writing pages: whatever
    the timing, the KB holds either none or all of the file."""
    db, src, snapshot = make_kb(tmp_path, 8000)
    env = {**os.environ, "HOTLINE_HOME": str(tmp_path)}
    wal = Path(str(db) + "-wal")
    base = wal.stat().st_size if wal.exists() else 0
    child = subprocess.Popen([sys.executable, "-m", "hotline.cli.main", "kb", "import", str(src),
                              "--no-progress", "--no-taxonomy"], cwd=ROOT, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and child.poll() is None:
        if wal.exists() and wal.stat().st_size > base:
            break
        time.sleep(0.002)
    if child.poll() is None:
        os.kill(child.pid, signal.SIGKILL)
    child.wait(10)
    store = KBStore(db)
    count = store.count()
    print("killed with", child.returncode, "count", count)
    if count == 50:
        assert_untouched(db, snapshot)
    else:   # it committed before the kill landed
        assert count == 8050 and store.get("old0049").answer == "新答案"
