"""A throw-away PostgreSQL on this machine: initdb + pg_ctl in a temporary
directory on a free port (no docker). Used by the tests (the ``pg_server``
fixture of tests/conftest.py, started once per session, ~2 s; each test that
wants one gets a fresh empty database from :meth:`PGServer.new_database`) and
by ``hotline bench replicas``. Never used by serving.

PostgreSQL refuses to run as root, and the tests run as root in CI: then
initdb, pg_ctl and postgres run as the ``postgres`` OS user (``runuser``), with
the temporary directory handed to it.
"""
from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

BIN_DIRS = ("/usr/local/bin", *sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True))


def find_bin(name: str) -> str | None:
    for d in BIN_DIRS:
        path = Path(d) / name
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    return shutil.which(name)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PGServer:
    def __init__(self, root: Path | None = None):
        # Its own directory under /tmp: pytest's tmp_path lies under a root-only
        # directory that the postgres user could not enter.
        self.root = Path(root or tempfile.mkdtemp(prefix="hotline-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.user = "postgres"
        self._names = itertools.count(1)
        self._as = []
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([*self._as, *argv], capture_output=True, text=True,
                              cwd=self.root, timeout=120)
        if check and done.returncode:
            raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): "
                               f"{done.stderr.strip() or done.stdout.strip()}")
        return done

    def start(self) -> "PGServer":
        if not self.data.exists():
            self._run(find_bin("initdb"), "-D", str(self.data), "-U", self.user, "-A", "trust",
                      "-E", "UTF8", "--locale=C", "--no-sync")
        # fsync off: a test database need not survive a power cut, and it is 10x faster.
        opts = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run(find_bin("pg_ctl"), "-D", str(self.data), "-o", opts, "-w", "-t", "60",
                  "-l", str(self.root / "log"), "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        self._run(find_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh empty database; returns its URL."""
        import psycopg

        name = f"t{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as con:
            con.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop a database from :meth:`new_database`, closing what is still
        connected (the followers of apps a test left behind). Without this the
        data directory grows by ~7 MB a test and removing it at the end of the
        session took up to a minute."""
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.url(), autocommit=True) as con:
            con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
