"""Errors of batch reclassification. Row-level problems are never raised: they
become lines of the errors file. These are for problems with the whole run."""
from foundation.errors import ArtifactError, Conflict, HotlineError, InvalidInput


class BatchError(HotlineError):
    code = "batch_error"


class UnsupportedFormat(BatchError, InvalidInput):
    code = "unsupported_format"


class MissingColumn(BatchError, InvalidInput):
    """A column named on the command line is not in the input."""

    code = "missing_column"


class ResumeMismatch(BatchError, Conflict):
    """The checkpoint belongs to a different input, model or set of options."""

    code = "resume_mismatch"


class ModelUnavailable(BatchError, ArtifactError):
    code = "model_unavailable"
