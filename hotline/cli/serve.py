"""`hotline serve`: the HTTP service (see docs/api.md).

Development server by default; ``--production`` runs gunicorn (gthread workers,
graceful shutdown) on the same ``server.create_app``. Whatever the home is
missing (index, models; the demo KB too with ``--prepare``) is built by
``training.prepare`` in a child process while the server already answers
/healthz; /readyz turns 200 once the engine has loaded everything.
"""
from __future__ import annotations

import logging
import subprocess
import sys

log = logging.getLogger("hotline.serve")


def register(sub) -> None:
    p = sub.add_parser("serve", help="run the HTTP API (and the agent widget at /widget)")
    p.add_argument("--host", help="bind address (default settings.host, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default settings.port, 8000)")
    p.add_argument("--workers", type=int, help="gunicorn worker processes (default settings.workers)")
    p.add_argument("--threads", type=int, default=2,
                   help="threads per gunicorn worker (default 2: one more lets a slow request, "
                   "e.g. a reload, leave the worker serving; more only add GIL contention)")
    p.add_argument("--prepare", action="store_true",
                   help="build the demo KB when the KB is empty (index and models are always "
                   "built when missing)")
    p.add_argument("--no-build", action="store_true", help="never build missing artifacts")
    p.add_argument("--production", action="store_true", help="serve with gunicorn")
    p.set_defaults(func=run)


def start_prepare(settings, demo: bool) -> subprocess.Popen | None:
    from hotline.runtime.components import missing

    todo = missing(settings)
    if not todo and not demo:
        return None
    log.info("building missing artifacts in the background: %s", ", ".join(todo) or "check KB")
    cmd = [sys.executable, "-m", "training.prepare", "--home", str(settings.home)]
    if demo:
        cmd.append("--demo")
    # stderr is inherited: the child's JSON progress lines join the server log.
    return subprocess.Popen(cmd)


def run(args, settings) -> int:
    from hotline.http import auth
    from foundation.jsonlog import configure

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
    child = None if args.no_build else start_prepare(settings, args.prepare)
    try:
        if args.production:
            serve_gunicorn(settings, threads=args.threads)
        else:
            from server import create_app

            # The app writes its own JSON access log; werkzeug's would double it.
            logging.getLogger("werkzeug").setLevel(logging.WARNING)
            create_app(settings).run(host=settings.host, port=settings.port, threaded=True,
                                     use_reloader=False)
    finally:
        if child is not None and child.poll() is None:
            # Artifacts are built in temporary directories and renamed into place,
            # so stopping half-way leaves nothing broken behind.
            child.terminate()
            child.wait(timeout=30)
    return 0


def per_worker_settings(settings):
    """Workers already occupy the cores: an automatic ``embed_threads`` becomes
    the cores' share of one worker, since more onnxruntime threads per worker
    only oversubscribe them (2 workers on 2 cores: /v1/analyze 171 -> 246 req/s,
    p99 96 -> 28 ms at concurrency 3, same run)."""
    import os

    if settings.embed_threads:
        return settings
    cores = os.cpu_count() or 1
    return settings.replace(embed_threads=max(1, cores // max(1, settings.workers)))


def serve_gunicorn(settings, threads: int = 2) -> None:
    from gunicorn.app.base import BaseApplication

    settings = per_worker_settings(settings)

    class App(BaseApplication):
        def load_config(self):
            options = {
                "bind": f"{settings.host}:{settings.port}",
                "workers": max(1, settings.workers),
                "worker_class": "gthread",
                "threads": max(1, threads),
                # Each worker loads the models itself after fork (onnxruntime and
                # FAISS thread pools do not survive fork), so give it time.
                "timeout": 120,
                "graceful_timeout": 30,
                "keepalive": 5,
                "accesslog": None,   # the app writes its own JSON access log
                "errorlog": "-",
                "loglevel": settings.log_level.lower(),
                "proc_name": "hotline",
            }
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self):
            from foundation.jsonlog import configure
            from server import create_app

            configure(settings.log_level)
            return create_app(settings)

    App().run()
