"""Per-identity rate limiting: a token bucket per API key, charged by the work a
request asks for.

The bucket holds ``per_minute`` tokens and refills continuously, so short bursts
up to a minute's allowance pass and a sustained rate above it gets 429 with a
``Retry-After``. Where the buckets live is the setting ``rate_limit_store``
(:func:`make_limiter`): ``shared`` (the default) keeps them in a database table
that every gunicorn worker and every replica pointed at the same database
updates atomically (:mod:`hotline.http.ratelimit_shared`), so a key's limit is
one limit however many processes serve it; ``memory`` keeps them in the worker
process (:class:`RateLimiter`), where N workers let up to N × the limit through.

**Cost.** A request costs one token per text it gives the engine, per started
1,000 characters of that text (:func:`text_units`, :func:`body_cost`): a short
analyze, search, classify or feedback costs 1, a 2,000-character one 2, a batch of
1,000 items at least 1,000, a KB write one per question, similar question and
answer. A listing costs ``1 + limit // 100``; anything else 1. A request dearer
than a full bucket passes when the bucket is full and leaves it in debt, so the
key then waits as long as the work was worth (it can never be refused forever).

**Memory.** A bucket that has refilled to full is the same as no bucket, so only
full buckets are ever dropped: no client's limit is ever reset by other keys coming
and going. In memory: a sweep once the table reaches ``max_keys``, again each time
it has doubled since, and once a minute while it is over ``max_keys``, so the table
holds about the identities active in the last refill period (a minute at most, plus
any debt), twice over. Shared: each process deletes the full rows once a minute.
"""
from __future__ import annotations

import math
import threading
import time

from foundation.errors import ConfigError
from hotline.http.errors import RateLimited

CHARS_PER_TOKEN = 1000
LIST_ENTRIES_PER_TOKEN = 100
_BODY_TEXTS = ("text", "query", "question", "answer")


def text_units(text: str) -> int:
    """Tokens for one text: one per started CHARS_PER_TOKEN characters, at least 1."""
    return max(1, -(-len(text) // CHARS_PER_TOKEN))


def body_cost(data) -> int:
    """Tokens for a checked request body: the texts it hands the engine (``items[].text``
    of a batch; ``text``/``query``; a KB entry's question, similar questions, answer)."""
    if not isinstance(data, dict):
        return 1
    texts = [item.get("text") for item in data.get("items") or () if isinstance(item, dict)]
    texts += [data.get(name) for name in _BODY_TEXTS]
    similar = data.get("similar_questions")
    if isinstance(similar, list):
        texts += similar
    return max(1, sum(text_units(t) for t in texts if isinstance(t, str) and t))


def list_cost(limit: int) -> int:
    return 1 + max(0, int(limit)) // LIST_ENTRIES_PER_TOKEN


def refuse(per_minute: int, rate: float, tokens: float, need: float):
    """Raise the 429 for a bucket holding ``tokens`` that needed ``need``."""
    wait = (need - tokens) / rate
    raise RateLimited(
        f"rate limit of {per_minute} tokens per minute exceeded for this identity "
        f"(a request costs one token per text per 1,000 characters; see docs/api.md); "
        f"retry in {math.ceil(wait)} s", retry_after=wait)


def make_limiter(settings):
    """The limiter the settings ask for: ``rate_limit_store`` ``shared`` (a table in
    ``rate_limit_url``, default the KB's PostgreSQL when ``kb_url`` names one, else
    ``sqlite:///HOME/run/ratelimit.sqlite3``) or
    ``memory`` (per process)."""
    store = settings.rate_limit_store.strip().lower()
    if store == "memory" or settings.rate_limit_per_minute <= 0:
        return RateLimiter(settings.rate_limit_per_minute)
    if store != "shared":
        raise ConfigError(f"setting rate_limit_store={settings.rate_limit_store!r} is not "
                          f"valid; expected 'shared' or 'memory'")
    from hotline.http.ratelimit_shared import SharedRateLimiter

    from foundation.db import shared_or_local

    # Replicas over one PostgreSQL KB share their buckets there too, unless told otherwise.
    url = settings.rate_limit_url.strip() or shared_or_local(
        settings.kb_database_url, settings.run_dir / "ratelimit.sqlite3")
    return SharedRateLimiter(settings.rate_limit_per_minute, url)


class RateLimiter:
    """Buckets in this process (``rate_limit_store = "memory"``)."""

    def __init__(self, per_minute: int, clock=time.monotonic, max_keys: int = 10_000):
        self.per_minute = int(per_minute)
        self.capacity = float(self.per_minute)
        self.rate = self.per_minute / 60.0
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}   # key -> (tokens, when)
        self._lock = threading.Lock()
        self._max_keys = max_keys
        self._sweep_at = max_keys
        self._swept = clock()

    def _tokens(self, key: str, now: float) -> float:
        tokens, last = self._buckets.get(key, (self.capacity, now))
        return min(self.capacity, tokens + (now - last) * self.rate)

    def hit(self, key: str, cost: float = 1.0, paid: float = 0.0) -> float:
        """Take ``cost`` tokens for ``key``; returns tokens left or raises RateLimited
        (taking nothing). The request passes when the bucket holds ``cost``, or,
        for a request dearer than a full bucket, when it is full: ``paid`` is what
        the same request already took, so its rest needs at most ``capacity - paid``."""
        if self.per_minute <= 0:  # 0 disables limiting
            return math.inf
        now = self._clock()
        with self._lock:
            tokens = self._tokens(key, now)
            need = min(float(cost), max(self.capacity - paid, 0.0))
            if tokens < need:
                if key in self._buckets:
                    self._buckets[key] = (tokens, now)
                refuse(self.per_minute, self.rate, tokens, need)
            return self._store(key, tokens - cost, now)

    def charge(self, key: str, cost: float) -> float:
        """Take ``cost`` tokens whatever the bucket holds (it may go into debt);
        never raises. For penalties, e.g. a failed sign-in."""
        if self.per_minute <= 0:
            return math.inf
        now = self._clock()
        with self._lock:
            return self._store(key, self._tokens(key, now) - cost, now)

    def _store(self, key: str, tokens: float, now: float) -> float:
        self._buckets[key] = (tokens, now)
        size = len(self._buckets)
        if size >= self._sweep_at or (size > self._max_keys and now - self._swept >= 60.0):
            self._sweep(now)
        return tokens

    def _sweep(self, now: float) -> None:
        """Drop the buckets that have refilled to full (forgetting them changes nothing)."""
        cap, rate = self.capacity, self.rate
        full = [key for key, (tokens, last) in self._buckets.items()
                if tokens + (now - last) * rate >= cap]
        for key in full:
            del self._buckets[key]
        # Amortised O(1): the next sweep waits until the table has doubled, or a
        # minute (a full refill at the default) while it is over max_keys.
        self._sweep_at = max(self._max_keys, 2 * len(self._buckets))
        self._swept = now

    def __len__(self) -> int:
        return len(self._buckets)
