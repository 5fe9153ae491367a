"""The access log: one JSON line per request (``foundation.jsonlog`` formats it),
with the request id.

Request text never reaches a log unmasked: :func:`masked_excerpt` runs
``index.text.mask_pii`` and truncates.
"""
from __future__ import annotations

import logging

from index.text import mask_pii

ACCESS = logging.getLogger("hotline.access")
EXCERPT_CHARS = 200


def masked_excerpt(text) -> str | None:
    if not isinstance(text, str):
        return None
    masked = mask_pii(text)
    return masked if len(masked) <= EXCERPT_CHARS else masked[:EXCERPT_CHARS] + "…"


def access(request_id: str, method: str, path: str, endpoint: str, status: int,
           seconds: float, key_id: str | None, text: str | None, error: str | None) -> None:
    if not ACCESS.isEnabledFor(logging.INFO):
        return
    fields = {"request_id": request_id, "method": method, "path": path, "endpoint": endpoint,
              "status": status, "ms": round(seconds * 1000, 2), "key": key_id}
    if text is not None:
        fields["text"] = masked_excerpt(text)
    if error:
        fields["error"] = error
    ACCESS.info("request", extra=fields)
