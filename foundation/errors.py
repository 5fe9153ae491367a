"""Root of the product's exception tree.

Each package (kb, index, classifier, training) derives its own small tree from
``HotlineError``; the HTTP layer maps these classes to status codes and problem
details in one place (server.py); nothing here knows about HTTP.
"""


class HotlineError(Exception):
    """Base of every error the product raises on purpose."""

    code = "error"


class ConfigError(HotlineError):
    code = "config_error"


class InvalidInput(HotlineError, ValueError):
    """Bad input from a user: empty, too long, wrong type."""

    code = "invalid_input"


class TextTooLong(InvalidInput):
    code = "text_too_long"


class EmptyText(InvalidInput):
    code = "empty_text"


class NoContent(InvalidInput):
    """Text that is not empty but holds no letter, digit or CJK character
    (punctuation, emoji, symbols, whitespace only): nothing to search or classify."""

    code = "no_content"


class NotFound(HotlineError, LookupError):
    code = "not_found"


class Conflict(HotlineError):
    code = "conflict"


class NotReady(HotlineError):
    code = "not_ready"


class ArtifactError(HotlineError):
    """An artifact directory is missing, incomplete, or does not match what is configured."""

    code = "artifact_error"
