"""Several gunicorn workers behave as one service: one per-key rate limit (the
shared bucket table) and one /metrics scrape summing every worker
(prometheus_client multiprocess mode). KB-only home, `hotline serve --production`."""
from __future__ import annotations

import json
import re
import struct
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from tests.conftest import auth, production_server

LIMIT = 12          # tokens a minute: one refills every 5 s
MAX_REQUESTS = 600


def _get(port: int, path: str, headers=None) -> tuple[int, str]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8")


def _per_worker(prom_dir, endpoint: str) -> dict[int, float]:
    """Requests to ``endpoint`` each worker counted, from its own counter file."""
    from prometheus_client.mmap_dict import MmapedDict

    out: dict[int, float] = {}
    for path in prom_dir.glob("counter_*.db"):
        pid = int(path.stem.split("_")[1])
        try:
            values = MmapedDict.read_all_values_from_file(str(path))
        except (struct.error, ValueError):   # a file a worker is creating right now
            continue
        for key, value, *_ in values:
            _, name, labels, _ = json.loads(key)
            if name == "hotline_http_requests_total" and labels["endpoint"] == endpoint:
                out[pid] = out.get(pid, 0.0) + value
    return out


def _sample(text: str, series: str) -> float:
    m = re.search("^" + re.escape(series) + r" (\S+)$", text, re.M)
    assert m, f"{series} not in /metrics:\n{text}"
    return float(m.group(1))


def _wait_for_workers(port: int, n: int, timeout: float = 60) -> None:
    """Until ``n`` workers have their app: the server answers once the first
    one has, and a worker still booting takes no connection (a sync worker
    that is up then takes every one of a quick burst)."""
    deadline = time.monotonic() + timeout
    while True:
        status, text = _get(port, "/metrics")
        if status == 200 and _sample(text, "hotline_workers") >= n:
            return
        assert time.monotonic() < deadline, f"{n} workers not up in {timeout} s"
        time.sleep(0.1)


def test_two_workers_share_one_rate_limit_and_one_scrape(kb_home):
    path, agent = "/v1/kb/entries", auth("agent")
    with production_server(kb_home, workers=2, threads=1,
                           HOTLINE_RATE_LIMIT_PER_MINUTE=str(LIMIT)) as (proc, port):
        [prom_dir] = (kb_home / "run" / "tmp").glob(f"metrics-*-{proc.pid}")
        started, codes, served = time.monotonic(), [], {}
        # Fresh connections from 6 threads until each worker has served at least
        # LIMIT of them (per-process buckets would then let 2 x LIMIT through).
        with ThreadPoolExecutor(6) as pool:
            while len(codes) < MAX_REQUESTS and not (
                    len(served) == 2 and min(served.values()) >= LIMIT):
                codes += [c for c, _ in pool.map(lambda _: _get(port, path, agent), range(12))]
                served = _per_worker(prom_dir, path)
        elapsed = time.monotonic() - started
        assert len(served) == 2 and min(served.values()) >= LIMIT, served
        passed = codes.count(200)
        assert codes.count(429) == len(codes) - passed
        # One allowance for both workers, plus what refilled while the requests ran.
        assert LIMIT <= passed <= LIMIT + int(elapsed * LIMIT / 60) + 1, (passed, elapsed)

        # One scrape answers for both workers: no pid label, the sum.
        status, text = _get(port, "/metrics")
        assert status == 200 and 'pid="' not in text
        labels = f'endpoint="{path}",method="GET"'
        assert _sample(text, f'hotline_http_requests_total{{{labels},status="200"}}') == passed
        assert _sample(text, f'hotline_http_requests_total{{{labels},status="429"}}') == \
            len(codes) - passed
        assert _sample(text, f'hotline_http_request_duration_seconds_count{{endpoint="{path}"}}') \
            == len(codes)
        assert _sample(text, "hotline_workers") == 2
        assert _sample(text, "hotline_kb_entries") == 3
    assert not prom_dir.exists()        # removed when the server stops


def test_metrics_dir_is_fresh_and_clears_only_dead_servers_of_this_host(tmp_path):
    import socket
    import subprocess
    import sys

    from hotline.cli.serve import metrics_dir
    from tests.conftest import make_settings

    root = tmp_path / "run" / "tmp"
    host = socket.gethostname().replace("-", "_")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    for name in (f"metrics-{host}-{dead}", f"metrics-{host}-1", f"metrics-otherhost-{dead}"):
        (root / name).mkdir(parents=True)
        (root / name / "counter_1.db").write_bytes(b"x")
    path = metrics_dir(make_settings(tmp_path))
    assert path.name.startswith(f"metrics-{host}-") and not any(path.iterdir())
    left = sorted(p.name for p in root.iterdir())
    # pid 1 runs (another server, as far as we know); the other host is not ours to judge
    assert left == sorted([path.name, f"metrics-{host}-1", f"metrics-otherhost-{dead}"])


def test_requests_spread_over_workers_instead_of_sticking_to_connections(kb_home):
    """No connection outlives its request (worker_connections = threads), so two
    clients that would keep their connections alive still reach both workers:
    a kept-alive connection would pin each client to the worker that accepted it.
    The pinning is ruled out by every response saying ``Connection: close``; how the
    80 fresh connections split between the workers is the kernel's accept order
    (a slow machine gave 75/5), so the split is only required to reach both."""
    import http.client

    path, agent = "/v1/kb/entries", auth("agent")
    with production_server(kb_home, workers=2, threads=1) as (proc, port):
        [prom_dir] = (kb_home / "run" / "tmp").glob(f"metrics-*-{proc.pid}")
        _wait_for_workers(port, 2)

        def client(_):
            conn, closes = http.client.HTTPConnection("127.0.0.1", port, timeout=30), 0
            for _ in range(40):
                conn.request("GET", path, headers=agent)   # HTTP/1.1: asks for keep-alive
                resp = conn.getresponse()
                resp.read()
                assert resp.status == 200
                closes += resp.getheader("Connection", "").lower() == "close"
            conn.close()
            return closes

        with ThreadPoolExecutor(2) as pool:
            closes = list(pool.map(client, range(2)))
        assert closes == [40, 40]
        served = _per_worker(prom_dir, path)
        assert len(served) == 2 and sum(served.values()) == 80, served


def test_one_thread_per_worker_is_gunicorns_sync_worker():
    """The production default (docs/api.md, "Session 19"); `hotline bench load`
    records the class beside its figures."""
    import argparse

    from hotline.cli.serve import register, worker_class

    assert worker_class(1) == "sync" and worker_class(2) == worker_class(4) == "gthread"
    sub = argparse.ArgumentParser().add_subparsers()
    register(sub)
    assert sub.choices["serve"].parse_args([]).threads == 1
