"""Per-key rate limiting: a token bucket per API key (per worker process).

The bucket holds ``per_minute`` tokens and refills continuously, so short bursts
up to a minute's allowance pass and a sustained rate above it gets 429 with a
``Retry-After``. State lives in the worker process: with N gunicorn workers the
effective ceiling is up to N × the limit, which is acceptable for a guard against
runaway clients (a shared store would put a network hop on every request).
"""
from __future__ import annotations

import math
import threading
import time

from hotline.http.errors import RateLimited


class RateLimiter:
    def __init__(self, per_minute: int, clock=time.monotonic, max_keys: int = 10_000):
        self.per_minute = int(per_minute)
        self.rate = self.per_minute / 60.0
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()
        self._max_keys = max_keys

    def hit(self, key: str, cost: float = 1.0) -> float:
        """Take ``cost`` tokens for ``key``; returns tokens left or raises RateLimited."""
        if self.per_minute <= 0:  # 0 disables limiting
            return math.inf
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - last) * self.rate)
            if tokens < cost:
                self._buckets[key] = (tokens, now)
                wait = (cost - tokens) / self.rate
                raise RateLimited(
                    f"rate limit of {self.per_minute} requests per minute exceeded for this key; "
                    f"retry in {math.ceil(wait)} s", retry_after=wait)
            if len(self._buckets) >= self._max_keys and key not in self._buckets:
                self._buckets.clear()  # bounded memory; forgetting only makes limits laxer
            self._buckets[key] = (tokens - cost, now)
            return tokens - cost
