"""Errors of the search area; all derive from ``foundation.errors``."""
from foundation.errors import ArtifactError, HotlineError, InvalidInput, NotReady


class SearchError(HotlineError):
    code = "search_error"


class IndexNotBuilt(NotReady):
    """No index has been published under ``settings.index_root`` yet."""

    code = "index_not_built"


class EmbedderMismatch(ArtifactError):
    """The index was built with another embedder than the one configured."""

    code = "embedder_mismatch"


class BuildFailed(SearchError):
    """A full build failed; the previously published index keeps serving."""

    code = "index_build_failed"


class BadQuery(InvalidInput):
    code = "bad_query"


__all__ = ["SearchError", "IndexNotBuilt", "EmbedderMismatch", "BuildFailed", "BadQuery"]
