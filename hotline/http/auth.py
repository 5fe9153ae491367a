"""API keys with roles, and the widget's signed session cookie.

Keys come from ``settings.api_keys`` (``HOTLINE_API_KEYS="agent:KEY1,admin:KEY2"``).
Only SHA-256 digests are kept in memory; a presented key is hashed and compared
with every digest using ``hmac.compare_digest`` so neither timing nor early exit
tells which key (if any) matched.

When no key is configured, a local demo key (role admin) is generated once and
stored under ``settings.home/secrets/demo_api_key`` (mode 0600) so every gunicorn
worker and every restart agree on it; ``hotline serve`` prints it.

The widget is served by the same app at ``/widget`` and grants nothing by itself:
the agent signs in by posting a configured key to ``POST /v1/session``, which sets
a signed, HttpOnly, SameSite=Strict, ``Path=/v1`` cookie bound to that key (see
:class:`Sessions`); ``DELETE /v1/session`` clears it. API calls from the page carry
the cookie automatically and other origins cannot (SameSite, plus the JSON content
type, which forces a CORS preflight that this app never answers). No key is ever
written into the page.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import time
from dataclasses import dataclass, replace
from pathlib import Path

from hotline.http.errors import Forbidden, Unauthorized
from foundation.errors import ConfigError

ROLES = ("agent", "editor", "admin")
_RANK = {role: i for i, role in enumerate(ROLES)}
SESSION_COOKIE = "hotline_session"
SESSION_SECONDS = 12 * 3600   # default; settings.session_minutes


@dataclass(frozen=True)
class Principal:
    role: str
    key_id: str  # short digest prefix: safe to log and to rate-limit by
    expires: int | None = None   # Unix time a session ends; None for a Bearer key

    def allows(self, role: str) -> bool:
        return _RANK[self.role] >= _RANK[role]

    def require(self, role: str) -> None:
        if not self.allows(role):
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

    def entries(self) -> list[tuple[bytes, str]]:
        """(SHA-256 digest, role) of every configured key, in configuration order."""
        return list(self._entries)

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
    """Signed session tokens for the widget, issued by ``POST /v1/session`` in
    exchange for a configured key: ``v2.<sid>.<expiry>.<nonce>.<signature>``.

    ``sid`` names the key the agent signed in with: an HMAC of the key's digest
    under the session secret (so a leaked cookie reveals nothing about the key,
    not even its hash). A token is accepted while it is unexpired, its signature
    is right and its ``sid`` is still in the key ring: removing a key from
    ``HOTLINE_API_KEYS`` (and restarting) ends every session signed in with it,
    and the role is the key's current one. The session acts as that key: same
    role, same key id in logs and feedback, same rate-limit bucket."""

    VERSION = "v2"

    def __init__(self, secret: bytes, keyring: KeyRing, lifetime: int = SESSION_SECONDS):
        self._secret = secret
        self.lifetime = int(lifetime)
        self._by_sid: dict[str, Principal] = {}
        self._sid_of: dict[str, str] = {}
        for digest, role in keyring.entries():
            sid = self._sign("key:" + digest.hex())[:32]
            principal = Principal(role, digest.hex()[:12])
            self._by_sid.setdefault(sid, principal)
            self._sid_of.setdefault(principal.key_id, sid)

    def issue(self, principal: Principal, now: float | None = None) -> tuple[str, int]:
        """(token, expiry as a Unix time) for a principal from the key ring."""
        sid = self._sid_of[principal.key_id]
        expiry = int((time.time() if now is None else now) + self.lifetime)
        body = f"{self.VERSION}.{sid}.{expiry}.{secrets.token_hex(8)}"
        return f"{body}.{self._sign(body)}", expiry

    def verify(self, token: str, now: float | None = None) -> Principal | None:
        parts = token.split(".")
        if (len(parts) != 5 or parts[0] != self.VERSION or not _DIGITS.fullmatch(parts[2])):
            return None
        body = ".".join(parts[:4])
        # compare_digest refuses non-ASCII str (TypeError); compare bytes instead.
        if not hmac.compare_digest(self._sign(body).encode("ascii"),
                                   parts[4].encode("utf-8", "surrogatepass")):
            return None
        expiry = int(parts[2])
        if expiry <= (time.time() if now is None else now):
            return None
        principal = self._by_sid.get(parts[1])   # None once the key is revoked
        return None if principal is None else replace(principal, expires=expiry)

    def _sign(self, body: str) -> str:
        return hmac.new(self._secret, body.encode("utf-8", "surrogatepass"),
                        hashlib.sha256).hexdigest()


_DIGITS = re.compile(r"[0-9]{1,12}")


def authenticate(keyring: KeyRing, sessions: Sessions, authorization: str | None,
                 cookie: str | None) -> Principal:
    """Bearer key first; the widget session cookie only when no Authorization header is sent."""
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
        raise Unauthorized("the session is not valid (expired, signed out or its key was "
                           "revoked); sign in again with POST /v1/session")
    raise Unauthorized("an API key is required: send 'Authorization: Bearer <API key>' "
                       "(or sign in with POST /v1/session)")
