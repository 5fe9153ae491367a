"""Every error as an RFC 9457 problem document: one table maps the package's
exceptions to HTTP statuses (most specific first); ``problem_for`` builds the
document, its status and extra headers for any exception."""
from __future__ import annotations

import logging

from flask import g, request
from werkzeug.exceptions import HTTPException

from foundation.errors import (ArtifactError, Conflict, HotlineError, InvalidInput, NotFound,
                               NotReady)
from hotline.http.errors import (Forbidden, MethodNotAllowed, PayloadTooLarge,
                                 PreconditionRequired, RateLimited, RouteNotFound, Unauthorized,
                                 UnsupportedMediaType)
from hotline.responses import jsonable

log = logging.getLogger("hotline.server")

# One table, most specific first: exception class -> HTTP status.
STATUS = (
    (Unauthorized, 401), (Forbidden, 403), (RateLimited, 429), (UnsupportedMediaType, 415),
    (PayloadTooLarge, 413), (PreconditionRequired, 428), (MethodNotAllowed, 405),
    (NotFound, 404), (Conflict, 409), (NotReady, 503), (ArtifactError, 503),
    (InvalidInput, 400), (HotlineError, 500),
)
_TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           405: "Method Not Allowed", 409: "Conflict", 413: "Payload Too Large",
           415: "Unsupported Media Type", 428: "Precondition Required",
           429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}


def problem_for(exc: BaseException) -> tuple[int, dict, dict]:
    """(status, problem document, extra headers) for any exception."""
    headers: dict[str, str] = {}
    if isinstance(exc, HTTPException):  # raised by Flask/werkzeug routing
        status = exc.code or 500
        code = {404: RouteNotFound.code, 405: MethodNotAllowed.code,
                413: PayloadTooLarge.code}.get(status, "bad_request" if status < 500 else "error")
        detail = {404: f"no such endpoint {request.method} {request.path}; see /openapi.json",
                  405: f"{request.method} is not allowed on {request.path}",
                  413: "the request body is too large"}.get(status, exc.description or "")
        if status == 405 and getattr(exc, "valid_methods", None):
            headers["Allow"] = ", ".join(exc.valid_methods)
    elif isinstance(exc, HotlineError):
        status = next(s for cls, s in STATUS if isinstance(exc, cls))
        code, detail = exc.code, str(exc)
        if isinstance(exc, RateLimited):
            headers["Retry-After"] = str(max(1, int(exc.retry_after + 0.999)))
        if isinstance(exc, Unauthorized):
            headers["WWW-Authenticate"] = 'Bearer realm="hotline"'
        if status >= 500 and not isinstance(exc, (NotReady, ArtifactError)):
            log.error("internal error", exc_info=exc, extra={"request_id": g.get("request_id")})
            detail = "an internal error occurred; it has been logged"
    else:
        log.error("unhandled exception", exc_info=exc, extra={"request_id": g.get("request_id")})
        status, code, detail = 500, "internal_error", "an internal error occurred; it has been logged"
    body = {"type": f"urn:hotline:error:{code}", "title": _TITLES.get(status, "Error"),
            "status": status, "detail": detail, "code": code,
            "request_id": g.get("request_id", "")}
    errors = getattr(exc, "errors", None)
    if errors:
        body["errors"] = [jsonable(e) for e in errors][:50]
    return status, body, headers


