"""Settings precedence: defaults < TOML < HOTLINE_* env < explicit overrides; CLI honours --home."""
import subprocess
import sys
from pathlib import Path

import pytest

from foundation.errors import ConfigError
from foundation.settings import Settings


def test_precedence(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('port = 9001\nembedder = "static"\nmax_text_chars = 50\n', encoding="utf-8")
    s = Settings.load(env={"HOTLINE_PORT": "9002"}, config_file=cfg)
    assert (s.port, s.embedder, s.max_text_chars) == (9002, "static", 50)
    s = Settings.load(overrides={"port": 9003}, env={"HOTLINE_PORT": "9002"}, config_file=cfg)
    assert s.port == 9003
    assert Settings.load(env={}).home == Path("./var")


def test_home_toml_is_picked_up(tmp_path):
    (tmp_path / "hotline.toml").write_text("[hotline]\nworkers = 5\n", encoding="utf-8")
    s = Settings.load(env={"HOTLINE_HOME": str(tmp_path)})
    assert s.workers == 5 and s.kb_path == tmp_path / "kb.sqlite3"


def test_bad_values_are_named(tmp_path):
    with pytest.raises(ConfigError, match="port='abc'"):
        Settings.load(env={"HOTLINE_PORT": "abc"})
    cfg = tmp_path / "c.toml"
    cfg.write_text("colour = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown setting"):
        Settings.load(env={}, config_file=cfg)


def test_cli_help_lists_subcommands():
    out = subprocess.run([sys.executable, "-m", "hotline.cli.main", "--help"],
                         capture_output=True, text=True, check=True).stdout
    for cmd in ("serve", "kb", "index", "search", "embed", "train", "reclassify", "eval", "bench"):
        assert cmd in out


def test_production_workers_share_the_cores_between_embedders():
    import os

    from hotline.cli.serve import per_worker_settings
    from foundation.settings import Settings

    auto = Settings.load(overrides={"workers": 2, "embed_threads": 0})
    assert per_worker_settings(auto).embed_threads == max(1, (os.cpu_count() or 1) // 2)
    many = Settings.load(overrides={"workers": 64, "embed_threads": 0})
    assert per_worker_settings(many).embed_threads == 1
    explicit = Settings.load(overrides={"workers": 2, "embed_threads": 3})
    assert per_worker_settings(explicit).embed_threads == 3


def _in_fresh_interpreter(code: str) -> None:
    """The GC's state is process-wide, and earlier tests leave engine threads
    that load in the background now and then: assert where nothing else runs."""
    import subprocess
    import sys
    import textwrap
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=root,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_quiet_load_pauses_collection_nested_and_freezes_what_was_loaded():
    _in_fresh_interpreter("""
        import gc
        import sys

        from foundation.gcpacing import quiet_load

        assert gc.isenabled()
        interval = sys.getswitchinterval()
        with quiet_load():
            assert not gc.isenabled() and sys.getswitchinterval() < interval
            with quiet_load():                     # a reload inside a load: still off
                loaded = [[i] for i in range(1000)]
            assert not gc.isenabled()
        assert gc.isenabled() and gc.get_freeze_count() >= len(loaded)
        assert sys.getswitchinterval() == interval
        frozen = gc.get_freeze_count()
        with quiet_load() as load:
            load.freeze = False                  # a retry that loaded nothing
            more = [[i] for i in range(1000)]
        assert gc.get_freeze_count() < frozen + len(more) and gc.isenabled()
        gc.disable()                             # a caller that had turned it off
        with quiet_load():
            pass
        assert not gc.isenabled()
    """)


def test_garbage_made_during_a_load_is_collected_not_frozen():
    _in_fresh_interpreter("""
        import gc
        import weakref

        from foundation.gcpacing import quiet_load

        class Node:
            pass

        with quiet_load():
            kept = [Node() for _ in range(10)]     # loaded: frozen
            cycle = Node()
            cycle.me = cycle                       # a request's cyclic garbage
            gone = weakref.ref(cycle)
            del cycle
        assert gone() is None and all(gc.is_tracked(k) for k in kept)
        assert gc.get_freeze_count() >= len(kept)
    """)


def test_pace_sleeps_in_proportion_to_the_work_only_inside_a_paced_load(monkeypatch):
    import gc

    from foundation import gcpacing as heap

    clock = iter([10.0, 10.2, 10.2, 10.5, 10.5])   # thread CPU seconds, read in order
    slept = []
    monkeypatch.setattr(heap, "_cpu_time", lambda: next(clock))
    monkeypatch.setattr(heap, "_sleep", slept.append)
    try:
        heap.pace()                                 # not loading: no pause, clock untouched
        assert slept == []
        with heap.quiet_load(paced=True):           # mark 10.0
            heap.pace()                             # 0.2 s of work, then mark 10.2
            with heap.quiet_load():                 # nested loads stay paced
                heap.pace()                         # 0.3 s of work
        heap.pace()                                 # the load is over
        expected = [0.2 * (1 / heap.LOAD_DUTY - 1), 0.3 * (1 / heap.LOAD_DUTY - 1)]
        assert slept == pytest.approx(expected)
        with heap.quiet_load():                     # unpaced (start-up): never pauses
            heap.pace()
        assert len(slept) == 2
    finally:
        gc.unfreeze()


def test_kb_url_default_is_the_sqlite_file_under_home_and_others_are_checked(tmp_path):
    s = Settings.load(env={"HOTLINE_HOME": str(tmp_path)})
    assert s.kb_is_sqlite and s.kb_path == tmp_path / "kb.sqlite3"
    assert s.kb_database_url == f"sqlite:///{tmp_path / 'kb.sqlite3'}"
    s = Settings.load(env={"HOTLINE_KB_URL": f"sqlite:///{tmp_path / 'other.db'}"})
    assert s.kb_is_sqlite and s.kb_path == tmp_path / "other.db"
    s = Settings.load(env={"HOTLINE_KB_URL": "postgresql://kb@db:5432/hotline"})
    assert not s.kb_is_sqlite and s.kb_database_url == "postgresql://kb@db:5432/hotline"
    with pytest.raises(ConfigError, match="kb_url='mysql://kb@db/hotline' is not supported; "
                                          "expected sqlite:///PATH or postgresql://"):
        Settings.load(env={"HOTLINE_KB_URL": "mysql://kb@db/hotline"})


def test_database_urls_are_shown_without_password():
    from foundation.db import redact

    assert redact("postgresql://kb:s3cret@db:5432/hotline") == "postgresql://kb:***@db:5432/hotline"
    assert redact("postgresql://kb@db/hotline") == "postgresql://kb@db/hotline"


def test_sqlite_wal_waits_out_another_connection_switching(tmp_path):
    """Two server workers opening a fresh SQLite file at once: switching it to WAL
    needs an exclusive lock and SQLite answers "database is locked" at once (no busy
    handler), which made a worker fail to boot. sqlite_wal waits it out."""
    import sqlite3
    import threading
    import time

    from foundation.db import sqlite_wal

    path = tmp_path / "fresh.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")          # what the other worker's switch holds
    other = sqlite3.connect(path, timeout=0.05, isolation_level=None)
    try:
        other.execute("PRAGMA journal_mode=WAL")
        pytest.fail("expected SQLite to refuse the switch while another connection holds the lock")
    except sqlite3.OperationalError as exc:
        assert "locked" in str(exc)
    threading.Timer(0.3, lambda: holder.execute("COMMIT")).start()
    t0 = time.monotonic()
    sqlite_wal(other, timeout=5)
    assert time.monotonic() - t0 >= 0.25
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    holder.close()
    other.close()


def test_artifacts_dir_moves_every_published_build(tmp_path):
    """Replicas on several machines share one artifact location: index, models and
    embedders follow artifacts_dir; the KB, runs and logs stay in the home."""
    from foundation.settings import Settings

    home, shared = tmp_path / "home", tmp_path / "shared"
    s = Settings.load({"home": home}, env={})
    assert s.index_root == home / "index" and s.embedders_root == home / "embedders"
    s = Settings.load({"home": home}, env={"HOTLINE_ARTIFACTS_DIR": str(shared)})
    assert (s.index_root, s.models_root, s.embedders_root) == (
        shared / "index", shared / "models", shared / "embedders")
    assert s.kb_path == home / "kb.sqlite3" and s.run_dir == home / "run"
