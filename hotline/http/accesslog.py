"""The access log: one JSON line per request (``foundation.jsonlog`` formats it),
with the request id.

Request text never reaches a log unmasked: :func:`masked_excerpt` runs
``index.text.mask_pii`` and truncates. A client's ``X-Request-ID`` is used only
when it is a safe token (:func:`request_id`), else a fresh id replaces it.
"""
from __future__ import annotations

import logging
import uuid

from index.text import mask_pii
from index.text.pii import safe_token

ACCESS = logging.getLogger("hotline.access")
EXCERPT_CHARS = 200


def request_id(sent: str | None) -> str:
    """The id of a request: the client's ``X-Request-ID`` when it is a safe token
    (1-64 of ``A-Za-z0-9._-`` holding nothing the PII masker would mask), else a
    fresh uuid4 hex. Fresh ids are drawn again until the masker leaves them alone
    (about 6 % of random hex strings hold a run of 11+ digits), so an id we hand
    out is stored and logged unchanged when a client sends it back."""
    if sent and safe_token(sent):
        return sent
    while True:
        rid = uuid.uuid4().hex
        if safe_token(rid):
            return rid


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
