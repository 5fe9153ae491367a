"""`hotline serve`: the `--prepare` child is reaped and its exit code logged, by the
development server and by the gunicorn arbiter, and stopped with the server; split from
test_server.py."""
import logging

import pytest

from tests.conftest import make_settings

def _process_state(pid: int) -> str | None:
    """The state letter in /proc/<pid>/stat ('Z' = zombie), None once reaped."""
    from pathlib import Path

    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]

@pytest.mark.skipif(not __import__("os").path.isdir("/proc/self"), reason="needs /proc")
def test_prepare_child_is_reaped_while_the_server_runs(tmp_path, monkeypatch, caplog):
    """`hotline serve --prepare` starts `python -m training.prepare`; once it ends it
    must not stay <defunct> for the server's whole life, and its exit code is logged.
    A short command stands in for the real build."""
    import subprocess
    import sys
    import time

    from hotline.cli import serve

    real_popen = subprocess.Popen
    started = []

    def short_child(cmd, **kwargs):
        assert cmd[1:3] == ["-m", "training.prepare"] and "--demo" in cmd
        started.append(cmd)
        return real_popen([sys.executable, "-c", "import time; time.sleep(0.3); raise SystemExit(3)"],
                          **kwargs)

    monkeypatch.setattr(subprocess, "Popen", short_child)
    with caplog.at_level(logging.INFO, logger="hotline.serve"):
        child = serve.start_prepare(make_settings(tmp_path / "home"), demo=True)
        assert child is not None and started
        deadline = time.time() + 10
        while _process_state(child.pid) is not None and time.time() < deadline:
            time.sleep(0.05)    # the "server" goes on; nobody here waits for the child
        assert _process_state(child.pid) is None, "the prepare child was left <defunct>"
        deadline = time.time() + 5
        while not any("exit code 3" in r.getMessage() for r in caplog.records) \
                and time.time() < deadline:
            time.sleep(0.05)
    assert child.returncode == 3
    [record] = [r for r in caplog.records if "exit code 3" in r.getMessage()]
    assert record.levelno == logging.WARNING and str(child.pid) in record.getMessage()

@pytest.mark.skipif(not __import__("os").path.isdir("/proc/self"), reason="needs /proc")
def test_prepare_child_is_reaped_by_the_gunicorn_arbiter_with_its_exit_code(kb_home):
    """Under --production gunicorn's arbiter reaps every child (waitpid(-1)); it
    reaps the prepare child by pid first, so its exit code is logged, not lost."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    script = f"""
import os, signal, subprocess, sys, threading, time
from pathlib import Path
from foundation.jsonlog import configure
from hotline.cli import serve
from tests.conftest import make_settings
configure("INFO")
child = serve.Child(subprocess.Popen([sys.executable, "-c",
                    "import time; time.sleep(0.5); raise SystemExit(5)"]), "prepare")
def watch():
    deadline = time.time() + 20
    while Path(f"/proc/{{child.pid}}").exists() and time.time() < deadline:
        time.sleep(0.05)
    print("REAPED" if not Path(f"/proc/{{child.pid}}").exists() else "ZOMBIE", child.returncode,
          file=sys.stderr, flush=True)
    os.kill(os.getpid(), signal.SIGTERM)
threading.Thread(target=watch, daemon=True).start()
settings = make_settings(Path({str(kb_home)!r}), port=0, workers=1)
serve.serve_gunicorn(settings, threads=1, children=[child])
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True,
                         timeout=60, env={**__import__("os").environ, "PYTHONPATH": str(root)})
    assert "REAPED 5" in out.stderr, out.stderr[-3000:]
    assert "ended with exit code 5" in out.stderr, out.stderr[-3000:]

def test_prepare_child_still_running_is_stopped_with_the_server(caplog):
    import subprocess
    import sys

    from hotline.cli.serve import Child

    child = Child(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]), "prepare")
    child.reap_in_thread()
    with caplog.at_level(logging.INFO, logger="hotline.serve"):
        child.stop(timeout=10)
    assert child.returncode is not None and child.returncode < 0
    assert _process_state(child.pid) is None
    [record] = [r for r in caplog.records if str(child.pid) in r.getMessage()]
    assert record.levelno == logging.INFO and "stopped with the server" in record.getMessage()
