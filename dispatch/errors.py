"""The dispatch package's errors (each names the bad value and what was expected)."""
from foundation.errors import ConfigError, HotlineError


class DispatchError(HotlineError):
    code = "dispatch_error"


class DispatchConfigError(ConfigError):
    """A [dispatch] setting that does not validate (raised when the rules load)."""

    code = "config_error"
