"""`hotline serve`: the HTTP service (see docs/api.md).

Development server by default; ``--production`` runs gunicorn (gthread workers,
graceful shutdown) on the same ``server.create_app``. Whatever the home is
missing (index, models; the demo KB too with ``--prepare``) is built by
``training.prepare`` in a child process while the server already answers
/healthz; /readyz turns 200 once the engine has loaded everything.
"""
from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

log = logging.getLogger("hotline.serve")


def register(sub) -> None:
    p = sub.add_parser("serve", help="run the HTTP API (and the agent widget at /widget)")
    p.add_argument("--host", help="bind address (default settings.host, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default settings.port, 8000)")
    p.add_argument("--workers", type=int, help="gunicorn worker processes (default settings.workers)")
    p.add_argument("--threads", type=int, default=1,
                   help="threads per gunicorn worker (default 1: gunicorn's sync worker, one "
                   "request at a time per process; 2 or more: gthread workers, where a slow "
                   "request leaves the worker serving, at ~10 %% of throughput and a higher p99)")
    p.add_argument("--worker-connections", type=int, metavar="N",
                   help="connections a gthread worker (--threads 2 or more) holds at once "
                   "(default: --threads, so "
                   "no connection is kept alive between requests and requests queue for the "
                   "first free worker; more keeps connections alive, which pins each client "
                   "to one worker)")
    p.add_argument("--prepare", action="store_true",
                   help="build the demo KB when the KB is empty (index and models are always "
                   "built when missing)")
    p.add_argument("--no-build", action="store_true", help="never build missing artifacts")
    p.add_argument("--production", action="store_true", help="serve with gunicorn")
    p.set_defaults(func=run)


def start_prepare(settings, demo: bool, reap_in_thread: bool = True) -> "Child | None":
    """Start ``python -m training.prepare`` for what the home is missing (None when
    nothing is). ``reap_in_thread``: reap it from a background thread as soon as it
    ends (the development server); gunicorn's arbiter reaps it instead
    (:func:`serve_gunicorn`)."""
    from hotline.runtime.components import missing

    todo = missing(settings)
    if not todo and not demo:
        return None
    log.info("building missing artifacts in the background: %s", ", ".join(todo) or "check KB")
    cmd = [sys.executable, "-m", "training.prepare", "--home", str(settings.home)]
    if demo:
        cmd.append("--demo")
    # stderr is inherited: the child's JSON progress lines join the server log.
    child = Child(subprocess.Popen(cmd), "prepare")
    if reap_in_thread:
        child.reap_in_thread()
    return child


class Child:
    """A child process of the server (the ``--prepare`` build). Once it ends it must
    be reaped, or it stays ``<defunct>`` for the rest of the server's life; its exit
    code is logged once (INFO for 0, WARNING otherwise).

    Who reaps it: on the development server a daemon thread blocked in ``wait()``
    (:meth:`reap_in_thread`); under gunicorn the arbiter, which reaps *every*
    child with ``waitpid(-1)`` and so would take the exit code with it: its
    reaping first polls this child by pid (:meth:`poll`, see
    :func:`serve_gunicorn`). Never both: a blocking ``wait()`` racing
    ``waitpid(-1)`` loses the exit code when it loses the race."""

    def __init__(self, popen: subprocess.Popen, name: str):
        self.popen, self.name = popen, name
        self._reported = self._stopping = False
        self._lock = threading.Lock()

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        return self.popen.returncode

    def poll(self) -> int | None:
        """Reap the child if it has ended (no blocking); its exit code, else None."""
        code = self.popen.poll()
        if code is not None:
            self._report(code)
        return code

    def reap_in_thread(self) -> threading.Thread:
        def wait():
            try:
                self._report(self.popen.wait())
            except Exception:    # never take the server down over a child's exit
                log.exception("waiting for the %s child (pid %s) failed", self.name, self.pid)

        thread = threading.Thread(target=wait, name=f"reap-{self.name}", daemon=True)
        thread.start()
        return thread

    def stop(self, timeout: float = 30) -> None:
        """Terminate the child if it still runs (server shutdown) and reap it."""
        if self.popen.poll() is None:
            # Artifacts are built in temporary directories and renamed into place,
            # so stopping half-way leaves nothing broken behind.
            self._stopping = True
            self.popen.terminate()
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        if self.popen.returncode is not None:
            self._report(self.popen.returncode)

    def _report(self, code: int) -> None:
        with self._lock:
            if self._reported:
                return
            self._reported = True
        if code == 0:
            log.info("%s child (pid %s) finished (exit code 0)", self.name, self.pid)
        elif self._stopping:
            log.info("%s child (pid %s) stopped with the server (exit code %s)", self.name,
                     self.pid, code)
        else:
            log.warning("%s child (pid %s) ended with exit code %s%s", self.name, self.pid, code,
                        " (killed by a signal)" if code < 0 else "")


def run(args, settings) -> int:
    from foundation.errors import ConfigError
    from hotline.http import auth
    from foundation.jsonlog import configure

    for flag, value in (("--threads", args.threads), ("--worker-connections",
                                                      args.worker_connections)):
        if value is not None and value < 1:
            raise ConfigError(f"{flag} {value}: expected a whole number of at least 1")

    settings = settings.replace(**{k: v for k, v in (("host", args.host), ("port", args.port),
                                                     ("workers", args.workers)) if v is not None})
    configure("DEBUG" if args.verbose else settings.log_level)
    settings.home.mkdir(parents=True, exist_ok=True)
    if not settings.api_keys.strip():
        key = auth.demo_key(settings.home)
        print(f"No HOTLINE_API_KEYS configured: local demo key (role admin): {key}\n"
              f"  (stored in {settings.home / 'secrets' / 'demo_api_key'})\n"
              f"  widget: http://{settings.host}:{settings.port}/widget (sign in with this key)   "
              f"docs: http://{settings.host}:{settings.port}/docs", flush=True)
    child = None if args.no_build else start_prepare(settings, args.prepare,
                                                     reap_in_thread=not args.production)
    try:
        if args.production:
            serve_gunicorn(settings, threads=args.threads, children=[child] if child else (),
                           worker_connections=args.worker_connections)
        else:
            from server import create_app

            # The app writes its own JSON access log; werkzeug's would double it.
            logging.getLogger("werkzeug").setLevel(logging.WARNING)
            app = create_app(settings)
            app.extensions["hotline"]["incidents"].warm()   # the incident index, in the background
            app.run(host=settings.host, port=settings.port, threaded=True, use_reloader=False)
    finally:
        if child is not None:
            child.stop()
    return 0


def per_worker_settings(settings):
    """Workers already occupy the cores: an automatic ``embed_threads`` becomes
    the cores' share of one worker, since more onnxruntime threads per worker
    only oversubscribe them (2 workers on 2 cores: /v1/analyze 171 -> 246 req/s,
    p99 96 -> 28 ms at concurrency 3, same run)."""
    if settings.embed_threads:
        return settings
    cores = os.cpu_count() or 1
    return settings.replace(embed_threads=max(1, cores // max(1, settings.workers)))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:     # someone else's process
        return True
    return True


def metrics_dir(settings) -> Path:
    """A fresh ``PROMETHEUS_MULTIPROC_DIR`` for this server:
    ``HOME/run/tmp/metrics-<host>-<pid>``, one per server (two servers on one home
    must not sum each other's workers). Directories of servers of this host that
    no longer run (killed before they could clean up) are removed first; another
    host's (a home on shared storage) are left alone."""
    root = settings.run_dir / "tmp"
    root.mkdir(parents=True, exist_ok=True)
    host = socket.gethostname().replace("-", "_")
    for old in root.glob(f"metrics-{host}-*"):
        pid = old.name.rsplit("-", 1)[1]
        if not pid.isdigit() or int(pid) == os.getpid() or not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    path = root / f"metrics-{host}-{os.getpid()}"
    path.mkdir()
    return path


def worker_class(threads: int) -> str:
    """gunicorn's worker class for ``threads`` per worker: one thread is the sync
    worker (accept, answer and close on one thread); more, gthread."""
    return "sync" if threads <= 1 else "gthread"


def serve_gunicorn(settings, threads: int = 1, children=(),
                   worker_connections: int | None = None) -> None:
    """``children``: :class:`Child` processes of this server (the ``--prepare``
    build) that the arbiter reaps by pid, with their exit code, before its own
    ``waitpid(-1)`` would take them as unknown children."""
    from gunicorn.app.base import BaseApplication
    from gunicorn.arbiter import Arbiter

    settings = per_worker_settings(settings)
    children = list(children)
    # Workers say "loaded and warm" here (a file per pid), for rolling restarts.
    ready_dir = Path(tempfile.mkdtemp(prefix="hotline-ready-"))
    # Every worker's counters and histograms in files there, so a scrape of any
    # worker sums all of them (hotline.http.metrics). Set before any worker, or
    # anything that imports prometheus_client, starts.
    prom_dir = metrics_dir(settings)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(prom_dir)

    def _mark_ready(worker):       # in the worker, after create_app returned
        (ready_dir / str(worker.pid)).touch()

    def _unmark(arbiter, worker):  # in the arbiter, when a worker has exited
        from hotline.http.metrics import mark_process_dead

        (ready_dir / str(worker.pid)).unlink(missing_ok=True)
        mark_process_dead(worker.pid)

    class HotlineArbiter(Arbiter):
        def reap_workers(self):      # on SIGCHLD and at shutdown
            for child in children:
                child.poll()
            super().reap_workers()

        def manage_workers(self):    # every turn of the main loop (about 1 s): a child
            for child in children:   # that ended before the SIGCHLD handler was installed
                child.poll()
            if len(self.WORKERS) > self.num_workers:
                self._hold_old_workers()
            super().manage_workers()

        def _hold_old_workers(self):
            """A rolling restart (SIGHUP) spawns new workers and, in gunicorn,
            stops the old ones at once: while the new ones load their models
            (seconds) nobody accepts, and requests wait in the listen queue (the
            issue-21 multi-second tail). Keep the old workers serving until the
            newest ``num_workers`` have loaded and warmed their app (a marker
            each writes from ``post_worker_init``), or one of them has died."""
            deadline = time.monotonic() + self.cfg.timeout
            while time.monotonic() < deadline:
                newest = sorted(self.WORKERS.items(), key=lambda w: w[1].age)[-self.num_workers:]
                if len(self.WORKERS) <= self.num_workers or all(
                        (ready_dir / str(pid)).exists() for pid, _ in newest):
                    return
                self.reap_workers()
                time.sleep(0.05)
            self.log.warning("new workers not ready after %s s; stopping the old ones anyway",
                             self.cfg.timeout)

    class App(BaseApplication):
        def load_config(self):
            options = {
                "bind": f"{settings.host}:{settings.port}",
                "workers": max(1, settings.workers),
                # One thread: the sync worker answers on the thread that accepted
                # (no event-loop thread, no hand-off, no GIL contention between
                # them). Against 2 gthread threads, `hotline bench load` without a
                # reload: 246 -> 276 req/s (medians of 3), p99 30 -> 22 ms; with a
                # model reload 217 -> 240 req/s (docs/api.md, session 19).
                # Keep-alive is off either way.
                "worker_class": worker_class(threads),
                "threads": max(1, threads),
                # Each worker loads the models itself after fork (onnxruntime and
                # FAISS thread pools do not survive fork), so give it time.
                "timeout": 120,
                "graceful_timeout": 30,
                "keepalive": 5,
                # A worker takes no more connections than it has threads, and none
                # stays open between requests: otherwise keep-alive clients stick
                # to the worker that accepted them (4 connections split 3/1 halve
                # the throughput, one worker at 100 % CPU, the other idle), while
                # with this a connection waits in the kernel's queue for whichever
                # worker frees a thread first. `hotline bench load`: 208-222 ->
                # 230-244 req/s, p99 44-48 -> 31-33 ms (docs/api.md).
                "worker_connections": worker_connections or max(1, threads),
                "accesslog": None,   # the app writes its own JSON access log
                "errorlog": "-",
                "loglevel": settings.log_level.lower(),
                "proc_name": "hotline",
                "post_worker_init": _mark_ready,
                "child_exit": _unmark,
            }
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self):
            from foundation.jsonlog import configure
            from server import create_app

            configure(settings.log_level)
            app = create_app(settings)
            app.extensions["hotline"]["incidents"].warm()   # the incident index, in the background
            return app

        def run(self):   # BaseApplication.run with our arbiter
            try:
                HotlineArbiter(self).run()
            except RuntimeError as exc:
                print(f"\nError: {exc}\n", file=sys.stderr, flush=True)
                sys.exit(1)

    master = os.getpid()
    try:
        App().run()
    finally:
        if os.getpid() == master:   # a worker leaves through here too (SystemExit)
            shutil.rmtree(ready_dir, ignore_errors=True)
            shutil.rmtree(prom_dir, ignore_errors=True)
