"""One settings object for the whole product.

Precedence, lowest to highest: defaults < TOML file < ``HOTLINE_*`` environment
variables < explicit overrides (CLI flags). The TOML file is ``--config FILE``,
else ``$HOTLINE_CONFIG``, else ``$HOTLINE_HOME/hotline.toml`` if it exists.
"""
from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from foundation.errors import ConfigError

ENV_PREFIX = "HOTLINE_"
# ../shared/data beside the checkout, wherever the command runs from.
KB_URL_SCHEMES = ("sqlite:", "postgresql://", "postgresql+psycopg://", "postgres://")
DEFAULT_SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@dataclass(frozen=True)
class Settings:
    home: Path = Path("./var")
    shared_data: Path = DEFAULT_SHARED_DATA
    # Embedders by role; each name resolves through index.embedders.get_embedder.
    embedder: str = "use"
    # Sentence vectors for other systems (`hotline embed`: similarity, dedup,
    # clustering); "" = ``embedder``. `hotline train --encoder` sets it to the encoder
    # that scores the sts_zh dev pairs better, which need not be the one that
    # searches the policy KB better (docs/embeddings.md).
    similarity_embedder: str = ""
    max_text_chars: int = 2000
    # onnxruntime intra-op threads per embedder; 0 = min(2, CPU count).
    embed_threads: int = 0
    # USE-m3 weights served: auto (int8 when the export ships one that passed
    # parity), int8 or fp32.
    embed_precision: str = "auto"
    # The department list (departments.json format: docs/kb.md); None = the demo's
    # HOME/demo/departments.json.
    taxonomy_path: Path | None = None
    # Where index, model and embedder builds are published (index/, models/,
    # embedders/); None = the home. Replicas on several machines point it at one
    # shared directory, so a build published once is loaded by all of them.
    artifacts_dir: Path | None = None
    # The KB database: "" (the default) is sqlite:///HOME/kb.sqlite3, today's file;
    # sqlite:///PATH another file; postgresql://user@host:port/db a shared server
    # (several replicas over one KB). ``kb_database_url`` is the resolved URL.
    kb_url: str = ""
    # HTTP service
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 2
    api_keys: str = ""
    rate_limit_per_minute: int = 1200
    # Where the per-key buckets live: "shared" (a table every worker and replica on
    # the same database updates; docs/api.md) or "memory" (per worker process).
    rate_limit_store: str = "shared"
    # SQLAlchemy URL of the shared buckets; "" = sqlite:///HOME/run/ratelimit.sqlite3
    # (the workers of one machine). Replicas on several machines: their common
    # PostgreSQL, e.g. postgresql+psycopg://hotline@db/hotline.
    rate_limit_url: str = ""
    # Widget sessions (POST /v1/session): lifetime; Secure cookies even when the app
    # sees plain HTTP (TLS ends at a reverse proxy); how many reverse proxies in
    # front are trusted for X-Forwarded-For/-Proto/-Host (0 = none).
    session_minutes: int = 720
    secure_cookies: bool = False
    proxy_hops: int = 0
    max_batch_items: int = 1000
    max_body_bytes: int = 2_000_000
    # Review zone: target precision per class when thresholds are chosen.
    target_precision: float = 0.9
    log_level: str = "INFO"
    # The TOML file's [dispatch] table as read (deadline rules, urgency rules,
    # calendar additions): the dispatch package validates it, foundation only
    # carries it. Not settable from the environment.
    dispatch: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)
    # The TOML file's [incidents] table as read (window_hours per problem class):
    # incidents.windows validates it. Not settable from the environment.
    incidents: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)
    config_file: Path | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.kb_url and not self.kb_url.startswith(KB_URL_SCHEMES):
            raise ConfigError(f"setting kb_url={self.kb_url!r} is not supported; expected "
                              "sqlite:///PATH or postgresql://user@host:port/db")
        if self.kb_url.startswith("sqlite:") and not self.kb_url.startswith("sqlite:///"):
            raise ConfigError(f"setting kb_url={self.kb_url!r}: a SQLite URL is sqlite:///PATH "
                              "(three slashes, then the file)")

    # ---- derived paths (everything the product writes lives under home) ----
    @property
    def kb_database_url(self) -> str:
        """``kb_url`` resolved: the SQLite file under home unless set."""
        return self.kb_url or f"sqlite:///{self.home / 'kb.sqlite3'}"

    @property
    def kb_is_sqlite(self) -> bool:
        return self.kb_database_url.startswith("sqlite:")

    @property
    def kb_path(self) -> Path:
        """The SQLite KB file (the default home/kb.sqlite3, or a sqlite:/// kb_url).
        With a PostgreSQL kb_url there is no file: use ``kb_database_url``."""
        if self.kb_url.startswith("sqlite:///"):
            return Path(self.kb_url[len("sqlite:///"):]).expanduser()
        return self.home / "kb.sqlite3"

    @property
    def artifacts_root(self) -> Path:
        """``artifacts_dir`` resolved: the home unless set."""
        return Path(self.artifacts_dir) if self.artifacts_dir else self.home

    @property
    def index_root(self) -> Path:
        return self.artifacts_root / "index"

    @property
    def models_root(self) -> Path:
        return self.artifacts_root / "models"

    @property
    def embed_model(self) -> str:
        """The encoder `hotline embed` and `hotline eval embedder` use by default."""
        return self.similarity_embedder or self.embedder

    @property
    def embedders_root(self) -> Path:
        return self.artifacts_root / "embedders"

    @property
    def run_dir(self) -> Path:
        """State of running servers: shared rate-limit buckets, run/tmp scratch."""
        return self.home / "run"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def demo_dir(self) -> Path:
        """Demo data the project generates: taxonomy, synthetic work orders."""
        return self.home / "demo"

    @property
    def taxonomy_file(self) -> Path:
        """The department list the KB checks writes against and the engine serves."""
        return self.taxonomy_path or self.demo_dir / "departments.json"

    def replace(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **changes)

    # ---- loading ----
    @classmethod
    def load(
        cls,
        overrides: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        config_file: str | Path | None = None,
    ) -> "Settings":
        env = os.environ if env is None else env
        overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
        values: dict[str, Any] = {}

        env_values = _from_env(env)
        home = overrides.get("home") or env_values.get("home") or cls.home
        path = config_file or env.get(ENV_PREFIX + "CONFIG")
        if path is None and (Path(home) / "hotline.toml").is_file():
            path = Path(home) / "hotline.toml"
        if path is not None:
            values.update(_from_toml(Path(path)))
            values["config_file"] = Path(path)
        values.update(env_values)
        values.update(overrides)
        return cls(**_coerce_all(values))


_FIELDS = {f.name: f for f in fields(Settings)}
# Settings that are whole TOML tables, kept as read (top level or under [hotline]).
_TABLES = ("dispatch", "incidents")


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    out = {}
    for name in _FIELDS:
        if name in _TABLES:
            continue
        key = ENV_PREFIX + name.upper()
        if key in env and env[key] != "":
            out[name] = env[key]
    return out


def _from_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    tables = {name: data[name] for name in _TABLES if name in data}
    data = dict(data.get("hotline", data))
    for name, table in tables.items():
        data.setdefault(name, table)
    for name in _TABLES:
        if name in data and not isinstance(data[name], dict):
            raise ConfigError(f"config file {path}: [{name}] must be a table, got {data[name]!r}")
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        raise ConfigError(
            f"config file {path}: unknown setting(s) {unknown}; expected some of {sorted(_FIELDS)}"
        )
    return data


def _coerce_all(values: dict[str, Any]) -> dict[str, Any]:
    return {name: _coerce(name, value) for name, value in values.items()}


def _coerce(name: str, value: Any) -> Any:
    default = _FIELDS[name].default
    if value is None:
        return None
    if name in _TABLES:
        return value
    kind = type(default) if default is not None else Path
    if name in ("home", "shared_data", "config_file", "taxonomy_path"):
        return Path(value).expanduser()
    try:
        if kind is bool:
            if isinstance(value, str):
                return value.strip().lower() in ("1", "true", "yes", "on")
            return bool(value)
        if kind in (int, float):
            return kind(value)
        return str(value) if kind is str else value
    except (TypeError, ValueError):
        raise ConfigError(
            f"setting {name}={value!r} is not a valid {kind.__name__}"
        ) from None
