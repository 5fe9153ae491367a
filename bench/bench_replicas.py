"""Two stateless replicas over one PostgreSQL KB: ``hotline bench replicas [options]``.

On this machine: starts a throw-away PostgreSQL (hotline.devtools.pgserver:
initdb + pg_ctl in a temporary directory on a free port), fills it with the
demo KB at a small scale (``--scale 0.05``: ~1,200 entries, so the index build
stays inside the time budget; ``--scale 1`` is the full 24k demo), builds the
index into a temporary home (the embedder export is reused from
``settings.home/embedders`` when it is there, else built there once), then

1. one replica (``hotline serve --production``) under load alone: requests/s,
   p50/p99 of ``/v1/search`` (``/v1/analyze`` needs a model; this home has none);
2. two replicas on two ports over the same home and database, both under the
   same load at once: requests/s and p99 per replica and together;
3. write → visible: N entries created with ``POST /v1/kb/entries`` (editor key)
   on replica A, each polled for on replica B's ``/v1/search`` until it is among
   the hits: median, p99 and max seconds from sending the write.

Everything runs on one machine, so the two replicas share its cores: the pair's
total throughput shows the overhead of a second process, not the scaling one
would get from a second machine. Writes go to bench/results/replicas.json and a
JSON + Markdown report under HOME/reports/.

Options: --scale 0.05 --writes 20 --seconds 10 --concurrency 2 --workers 1 --threads 2
         --driver auto|wrk|python (wrk when installed: it costs the shared cores far
         less than the Python client threads, which run in this one process)
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.bench_load import _free_port, drive, drive_wrk, query_mix
from bench.common import add_driver_arg, median, percentile, resolve_driver, save

ROOT = Path(__file__).resolve().parents[1]


def latency_summary(seconds: list[float]) -> dict:
    """Median, p99 and max of write→visible delays (in ms), and how many took
    longer than the 1 s the issue allows."""
    if not seconds:
        return {"writes": 0, "median_ms": None, "p99_ms": None, "max_ms": None, "over_1s": 0}
    ms = [s * 1000 for s in seconds]
    return {"writes": len(ms), "median_ms": round(median(ms), 1),
            "p99_ms": round(percentile(ms, 99), 1), "max_ms": round(max(ms), 1),
            "over_1s": sum(1 for s in seconds if s > 1.0)}


def _call(port: int, method: str, path: str, key: str, body=None) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        conn.request(method, path, body=data, headers={"Authorization": f"Bearer {key}",
                                                       "Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"null")
    finally:
        conn.close()


class Replica:
    """One ``hotline serve --production`` over ``home`` on a free port."""

    def __init__(self, home: Path, env: dict, workers: int, threads: int):
        self.port = _free_port()
        cmd = [sys.executable, "-m", "hotline.cli.main", "--home", str(home), "serve",
               "--production", "--no-build", "--host", "127.0.0.1", "--port", str(self.port),
               "--workers", str(workers), "--threads", str(threads)]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)

    def wait_search(self, key: str, timeout: float = 180) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"replica on port {self.port} exited ({self.proc.returncode})")
            try:
                if _call(self.port, "POST", "/v1/search", key, {"query": "路灯", "k": 1})[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"replica on port {self.port} did not answer /v1/search in {timeout} s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def prepare_home(settings, home: Path, kb_url: str, scale: float) -> dict:
    """The demo KB at ``scale`` in PostgreSQL and an index built from it."""
    from foundation.settings import Settings
    from kb.demo import build_demo
    from training.embedders import ensure

    ensure(settings.embedder, settings)     # cached in settings.home/embedders after the first run
    home.mkdir(parents=True)
    (home / "embedders").symlink_to(Path(settings.embedders_root).resolve(),
                                    target_is_directory=True)
    (home / "hotline.toml").write_text(f'kb_url = "{kb_url}"\n', encoding="utf-8")
    bench_settings = Settings.load(overrides={"home": home, "kb_url": kb_url})
    t0 = time.perf_counter()
    demo = build_demo(bench_settings, scale=scale, progress=False)
    t1 = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("HOTLINE_KB_URL", None)
    done = subprocess.run([sys.executable, "-m", "hotline.cli.main", "--home", str(home),
                           "index", "build"], cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"hotline index build failed: {done.stderr[-2000:]}")
    return {"scale": scale, "entries": demo["entries"], "published": demo["published"],
            "kb_demo_seconds": round(t1 - t0, 1),
            "index_build_seconds": round(time.perf_counter() - t1, 1)}


def load_together(replicas, payloads, key, seconds, concurrency, driver="python") -> list[dict]:
    """The same load on every replica at once; one result per replica."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    results: list = [None] * len(replicas)

    def one(i):
        if driver == "wrk":
            results[i] = drive_wrk(replicas[i].port, "/v1/search", payloads, headers, seconds,
                                   concurrency)
        else:
            results[i] = drive(replicas[i].port, "/v1/search", payloads, headers, seconds,
                               10**9, concurrency)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(replicas))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def write_visible(a: Replica, b: Replica, editor: str, agent: str, n: int) -> list[float]:
    """Seconds from sending each POST to A until B's /v1/search returns the entry."""
    out = []
    run = secrets.token_hex(3)
    places = ["东城", "西城", "朝阳", "海淀", "丰台", "石景山", "通州", "顺义", "昌平", "大兴"]
    things = ["宠物狂犬疫苗接种", "无人机飞行报备", "古树名木修剪", "游泳池水质检测", "充电桩安装许可"]
    for i in range(n):
        question = f"{places[i % len(places)]}区{things[i % len(things)]}第{i}号窗口在哪里办理"
        entry = {"id": f"bench-{run}-{i}", "question": question,
                 "answer": "请到区政务服务中心综合窗口办理。", "department": []}
        t0 = time.perf_counter()
        status, body = _call(a.port, "POST", "/v1/kb/entries", editor, entry)
        if status != 201:
            raise RuntimeError(f"POST /v1/kb/entries on replica A answered {status}: {body}")
        while True:
            status, body = _call(b.port, "POST", "/v1/search", agent, {"query": question, "k": 5})
            if status == 200 and any(h["id"] == entry["id"] for h in body["hits"]):
                break
            if time.perf_counter() - t0 > 30:
                raise RuntimeError(f"entry {entry['id']} not searchable on replica B after 30 s")
            time.sleep(0.005)
        out.append(time.perf_counter() - t0)
        time.sleep(0.05)   # spread the writes over the follower's poll phase
    return out


def markdown(figures: dict) -> str:
    m, s, p, w = figures["machine"], figures["single"], figures["pair"], figures["write_visible"]
    lines = [f"# hotline bench replicas — {figures['measured_at']}", "",
             f"Machine: {m.get('cpu')} ({m.get('cores')} cores), load average before the run "
             f"{figures['load_average_before']}. KB: demo at scale {figures['kb']['scale']} "
             f"({figures['kb']['entries']} entries) in PostgreSQL {figures['postgresql']}; "
             f"`{figures['endpoint']}`, {figures['workers']} worker × {figures['threads']} threads "
             f"per replica, {figures['concurrency']} client connections per replica ({figures['driver']}), "
             f"{figures['seconds']} s.", "",
             "| setup | replica | requests/s | p50 ms | p99 ms | errors |", "|---|---|---|---|---|---|",
             f"| 1 replica | A | {s['rps']} | {s['p50_ms']} | {s['p99_ms']} | {s['errors']} |"]
    for name, r in zip("AB", p["replicas"]):
        lines.append(f"| 2 replicas | {name} | {r['rps']} | {r['p50_ms']} | {r['p99_ms']} | {r['errors']} |")
    lines += [f"| 2 replicas | together | {p['total_rps']} | | | |", "",
              f"Write → visible (POST on A, found by /v1/search on B), {w['writes']} writes: "
              f"median {w['median_ms']} ms, p99 {w['p99_ms']} ms, max {w['max_ms']} ms, "
              f"{w['over_1s']} over 1 s.", ""]
    return "\n".join(lines)


def main(settings, argv=None) -> int:
    from hotline.devtools.pgserver import PGServer, find_bin

    p = argparse.ArgumentParser(prog="hotline bench replicas")
    p.add_argument("--scale", type=float, default=0.05, help="demo KB scale (1 = 24k entries)")
    p.add_argument("--writes", type=int, default=20)
    p.add_argument("--seconds", type=float, default=10, help="length of each load phase")
    p.add_argument("--concurrency", type=int, default=2, help="client connections per replica")
    p.add_argument("--workers", type=int, default=1, help="gunicorn workers per replica")
    p.add_argument("--threads", type=int, default=2)
    add_driver_arg(p)
    args = p.parse_args(argv or [])
    driver = resolve_driver(args.driver)
    if driver is None:
        return 2
    if find_bin("initdb") is None or find_bin("pg_ctl") is None:
        print("PostgreSQL's initdb/pg_ctl are not installed (`make system-deps` installs "
              "Debian's postgresql)", file=sys.stderr)
        return 2
    t_start = time.perf_counter()
    load_before = [round(x, 2) for x in os.getloadavg()]
    work = Path(tempfile.mkdtemp(prefix="bench-replicas-"))
    pg = PGServer()
    replicas: list[Replica] = []
    try:
        pg.start()
        kb_url = pg.new_database()
        home = work / "home"
        kb = prepare_home(settings, home, kb_url, args.scale)
        keys = {"agent": secrets.token_urlsafe(16), "editor": secrets.token_urlsafe(16)}
        env = {**os.environ, "PYTHONPATH": str(ROOT), "HOTLINE_LOG_LEVEL": "WARNING",
               "HOTLINE_API_KEYS": ",".join(f"{r}:{k}" for r, k in keys.items()),
               "HOTLINE_RATE_LIMIT_PER_MINUTE": "0"}
        env.pop("HOTLINE_KB_URL", None)
        env.pop("HOTLINE_HOME", None)
        bench_settings = type(settings).load(overrides={"home": home, "kb_url": kb_url})
        payloads = [json.dumps({"query": q}, ensure_ascii=False).encode("utf-8")
                    for q in query_mix(bench_settings)]

        replicas.append(Replica(home, env, args.workers, args.threads))
        replicas[0].wait_search(keys["agent"])
        load_together(replicas, payloads, keys["agent"], 2, args.concurrency)   # warm-up
        single = load_together(replicas, payloads, keys["agent"], args.seconds, args.concurrency,
                               driver)[0]

        replicas.append(Replica(home, env, args.workers, args.threads))
        replicas[1].wait_search(keys["agent"])
        load_together(replicas[1:], payloads, keys["agent"], 2, args.concurrency)
        pair = load_together(replicas, payloads, keys["agent"], args.seconds, args.concurrency,
                             driver)
        delays = write_visible(replicas[0], replicas[1], keys["editor"], keys["agent"], args.writes)
        version = pg._run(find_bin("postgres"), "--version").stdout.split()[2]
    finally:
        for r in replicas:
            r.stop()
        pg.remove()
        shutil.rmtree(work, ignore_errors=True)
    figures = {
        "endpoint": "/v1/search", "driver": driver, "postgresql": version, "kb": kb,
        "workers": args.workers, "threads": args.threads, "concurrency": args.concurrency,
        "seconds": args.seconds, "load_average_before": load_before,
        "single": single,
        "pair": {"replicas": pair, "total_rps": round(sum(r["rps"] for r in pair), 1)},
        "write_visible": latency_summary(delays),
        "wall_seconds": round(time.perf_counter() - t_start, 1),
    }
    save("replicas", figures)
    figures = json.loads((Path(__file__).with_name("results") / "replicas.json").read_text("utf-8"))
    reports = Path(settings.home) / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    stem = reports / f"bench-replicas-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
    stem.with_suffix(".json").write_text(json.dumps(figures, ensure_ascii=False, indent=2) + "\n",
                                         encoding="utf-8")
    stem.with_suffix(".md").write_text(markdown(figures), encoding="utf-8")
    print(f"report: {stem}.md")
    return 0
