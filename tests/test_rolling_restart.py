"""A rolling restart (SIGHUP to `hotline serve --production`) under load: new
workers take over, and no request waits for them to load (issue #21: no request
over 1 s)."""
from __future__ import annotations

import http.client
import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import KEYS, production_server

def _worker_pids(master: int) -> set[str]:
    """The gunicorn workers: the arbiter's child processes (one /metrics scrape
    answers for all of them, so it names none)."""
    pids = set()
    for task in Path(f"/proc/{master}/task").iterdir():
        try:
            pids |= set((task / "children").read_text().split())
        except FileNotFoundError:   # a thread that just ended
            pass
    return pids


@pytest.mark.slow
@pytest.mark.parametrize("threads", [1, 2])   # the sync worker (the default) and gthread
def test_sighup_under_load_adds_no_request_over_a_second(served_home, threads):
    with production_server(served_home, workers=2, threads=threads, ready="/readyz", timeout=120,
                           HOTLINE_LOG_LEVEL="WARNING") as (proc, port):
        before = _worker_pids(proc.pid)
        latencies, errors, stop = [], [], threading.Event()
        body = json.dumps({"text": "小区停水了什么时候恢复"}, ensure_ascii=False).encode()
        headers = {"Authorization": f"Bearer {KEYS['agent']}", "Content-Type": "application/json"}

        def client():
            while not stop.is_set():
                t0 = time.perf_counter()
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                    conn.request("POST", "/v1/analyze", body=body, headers=headers)
                    resp = conn.getresponse()
                    resp.read()
                    if resp.status != 200:
                        errors.append(resp.status)
                    conn.close()
                except OSError as exc:
                    errors.append(repr(exc))
                latencies.append(time.perf_counter() - t0)

        threads = [threading.Thread(target=client) for _ in range(3)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        os.kill(proc.pid, signal.SIGHUP)
        # Until both new workers serve (and a little after), the load goes on.
        deadline = time.time() + 90
        after = before
        while time.time() < deadline:
            time.sleep(1.0)
            after = _worker_pids(proc.pid)
            if after and not (after & before):
                break
        time.sleep(1.0)
        stop.set()
        for t in threads:
            t.join(40)
        assert after and not (after & before), f"workers not replaced: {before} -> {after}"
        assert not errors, errors[:5]
        assert len(latencies) > 20
        assert max(latencies) < 1.0, sorted(latencies)[-5:]
