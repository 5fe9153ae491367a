"""Errors raised by the HTTP layer itself (the rest come from the libraries)."""
from foundation.errors import HotlineError, InvalidInput, NotFound


class Unauthorized(HotlineError):
    code = "unauthorized"


class Forbidden(HotlineError):
    code = "forbidden"


class RateLimited(HotlineError):
    code = "rate_limited"

    def __init__(self, message: str, retry_after: float):
        super().__init__(message)
        self.retry_after = retry_after


class MalformedJSON(InvalidInput):
    code = "malformed_json"


class NotUTF8(InvalidInput):
    code = "not_utf8"


class WrongType(InvalidInput):
    code = "wrong_type"


class UnsupportedMediaType(HotlineError):
    code = "unsupported_media_type"


class PayloadTooLarge(HotlineError):
    code = "payload_too_large"


class PreconditionRequired(HotlineError):
    """PATCH/DELETE without If-Match: the client must say which revision it edits."""
    code = "if_match_required"


class RouteNotFound(NotFound):
    code = "route_not_found"


class MethodNotAllowed(HotlineError):
    code = "method_not_allowed"
