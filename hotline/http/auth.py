"""API keys with roles, and the widget's same-origin session cookie.

Keys come from ``settings.api_keys`` (``HOTLINE_API_KEYS="agent:KEY1,admin:KEY2"``).
Only SHA-256 digests are kept in memory; a presented key is hashed and compared
with every digest using ``hmac.compare_digest`` so neither timing nor early exit
tells which key (if any) matched.

When no key is configured, a local demo key (role admin) is generated once and
stored under ``settings.home/secrets/demo_api_key`` (mode 0600) so every gunicorn
worker and every restart agree on it; ``hotline serve`` prints it.

The widget is served by the same app at ``/widget``. Loading the page sets a
signed, HttpOnly, SameSite=Strict cookie carrying the ``agent`` role; API calls
from the page carry it automatically and other origins cannot (SameSite plus the
JSON content type, which forces a CORS preflight that this app never answers).
No key is ever written into the page.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from hotline.http.errors import Forbidden, Unauthorized
from foundation.errors import ConfigError

ROLES = ("agent", "editor", "admin")
_RANK = {role: i for i, role in enumerate(ROLES)}
SESSION_COOKIE = "hotline_session"
SESSION_SECONDS = 12 * 3600


@dataclass(frozen=True)
class Principal:
    role: str
    key_id: str  # short digest prefix: safe to log and to rate-limit by

    def require(self, role: str) -> None:
        if _RANK[self.role] < _RANK[role]:
            raise Forbidden(f"this operation needs role {role!r}; the key has role {self.role!r}")


def _digest(key: str) -> bytes:
    # surrogatepass: a JSON body may carry a lone surrogate; it must hash, not raise.
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


class KeyRing:
    """Hashed API keys → roles."""

    def __init__(self, entries: list[tuple[str, str]]):
        self._entries = [(_digest(key), role) for role, key in entries]

    @classmethod
    def from_spec(cls, spec: str) -> "KeyRing":
        entries = []
        for item in (s.strip() for s in spec.split(",")):
            if not item:
                continue
            role, sep, key = item.partition(":")
            role = role.strip()
            if not sep or role not in _RANK or not key.strip():
                raise ConfigError(
                    f"api key entry {item.split(':')[0]!r}:... is invalid; expected ROLE:KEY "
                    f"with ROLE one of {list(ROLES)}")
            entries.append((role, key.strip()))
        return cls(entries)

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, key: str) -> Principal | None:
        digest = _digest(key)
        found = None
        for stored, role in self._entries:
            # No early exit: every stored digest is compared.
            if hmac.compare_digest(stored, digest) and found is None:
                found = role
        if found is None:
            return None
        return Principal(found, digest.hex()[:12])


def _secret_file(home: Path, name: str, nbytes: int) -> str:
    path = Path(home) / "secrets" / name
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(nbytes)
    tmp = path.with_name(f".{name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(value + "\n")
    try:
        # link() fails if another worker won the race; then everyone reads the winner's.
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)
    return path.read_text(encoding="utf-8").strip()


def demo_key(home: Path) -> str:
    return _secret_file(home, "demo_api_key", 24)


def session_secret(home: Path) -> bytes:
    return _secret_file(home, "session_secret", 32).encode("utf-8")


def keyring_for(settings) -> tuple[KeyRing, str | None]:
    """The configured key ring, or a demo one; returns (ring, demo key or None)."""
    if settings.api_keys.strip():
        return KeyRing.from_spec(settings.api_keys), None
    key = demo_key(settings.home)
    return KeyRing([("admin", key)]), key


class Sessions:
    """Signed widget session tokens: ``role.expiry.nonce.signature``; the nonce
    gives every widget session its own rate-limit bucket."""

    def __init__(self, secret: bytes):
        self._secret = secret

    def issue(self, role: str = "agent", now: float | None = None) -> str:
        expiry = int((now or time.time()) + SESSION_SECONDS)
        body = f"{role}.{expiry}.{secrets.token_hex(8)}"
        return f"{body}.{self._sign(body)}"

    def verify(self, token: str, now: float | None = None) -> Principal | None:
        parts = token.split(".")
        if len(parts) != 4 or parts[0] not in _RANK or not parts[1].isdigit():
            return None
        body = ".".join(parts[:3])
        # compare_digest refuses non-ASCII str (TypeError); compare bytes instead.
        if not hmac.compare_digest(self._sign(body).encode("ascii"),
                                   parts[3].encode("utf-8", "surrogatepass")):
            return None
        if int(parts[1]) < (now or time.time()):
            return None
        return Principal(parts[0], "session-" + parts[2])

    def _sign(self, body: str) -> str:
        return hmac.new(self._secret, body.encode("utf-8", "surrogatepass"),
                        hashlib.sha256).hexdigest()


def authenticate(keyring: KeyRing, sessions: Sessions, authorization: str | None,
                 cookie: str | None) -> Principal:
    """Bearer key first; the widget cookie only when no Authorization header is sent."""
    if authorization:
        scheme, _, key = authorization.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise Unauthorized("the Authorization header must be 'Bearer <API key>'")
        principal = keyring.lookup(key.strip())
        if principal is None:
            raise Unauthorized("the API key is not valid")
        return principal
    if cookie:
        principal = sessions.verify(cookie)
        if principal is not None:
            return principal
    raise Unauthorized("an API key is required: send 'Authorization: Bearer <API key>'")
