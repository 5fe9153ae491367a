"""Hybrid knowledge-base search: dense (FAISS) + lexical (BM25), fused,
filtered, updated incrementally, published atomically. See docs/search.md."""
from index.search.build import build_index, build_state, load_state
from index.search.errors import BadQuery, BuildFailed, EmbedderMismatch, IndexNotBuilt, SearchError
from index.search.fusion import FusionWeights
from index.search.service import SearchService
from index.search.types import Hit, SearchFilters

__all__ = ["SearchService", "SearchFilters", "Hit", "FusionWeights", "build_index", "build_state",
           "load_state", "SearchError", "IndexNotBuilt", "EmbedderMismatch", "BuildFailed",
           "BadQuery"]
