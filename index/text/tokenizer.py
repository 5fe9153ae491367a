"""jieba segmentation with the hotline dictionary, stopwords and synonyms.

Uses its own ``jieba.Tokenizer`` (never the global one) so the domain dictionary
does not leak into other users of jieba. jieba's Tokenizer holds a lock and
cannot be pickled: the wrapper pickles only its configuration and rebuilds the
Tokenizer on load.
"""
from __future__ import annotations

import functools
import hashlib
import logging
import re
import os
import threading
import time
from pathlib import Path

DATA_DIR = Path(__file__).with_name("data")
USER_DICT = DATA_DIR / "userdict.txt"
STOPWORDS = DATA_DIR / "stopwords.txt"
SYNONYMS = DATA_DIR / "synonyms.txt"

_WORDLIKE = re.compile(r"[\w\u4e00-\u9fff]", re.UNICODE)


def _quiet_jieba() -> None:
    """jieba sets its logger to DEBUG when it is imported ("Building prefix dict …"
    in every worker's log): set after that import, not before it."""
    logging.getLogger("jieba").setLevel(logging.WARNING)


def _read_lines(path: Path) -> list[str]:
    if not path.is_file():
        return []
    return [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()
            if ln.strip() and not ln.startswith("#")]


def load_synonyms(path: Path = SYNONYMS) -> dict[str, list[str]]:
    """One group per line, comma- or space-separated; every member maps to the others."""
    groups: dict[str, list[str]] = {}
    for line in _read_lines(path):
        members = [w for w in re.split(r"[,，\s]+", line) if w]
        for w in members:
            groups.setdefault(w, [])
            groups[w].extend(m for m in members if m != w and m not in groups[w])
    return groups


class Tokenizer:
    def __init__(self, user_dict: Path | str | None = USER_DICT,
                 stopwords: Path | str | None = STOPWORDS,
                 synonyms: Path | str | None = SYNONYMS):
        self.user_dict = Path(user_dict) if user_dict else None
        self.stopwords_path = Path(stopwords) if stopwords else None
        self.synonyms_path = Path(synonyms) if synonyms else None
        self._build()

    def _build(self) -> None:
        import jieba

        _quiet_jieba()
        self._jieba = jieba.Tokenizer()
        self._jieba.initialize()
        if self.user_dict and self.user_dict.is_file():
            self._jieba.load_userdict(str(self.user_dict))
        self.stopwords = frozenset(_read_lines(self.stopwords_path)) if self.stopwords_path else frozenset()
        self._synonyms: dict[str, list[str]] = {}
        self._synonyms_mtime: int | None = None
        self._synonyms_checked = 0.0
        self._lock = threading.Lock()
        # /v1/analyze segments one request twice (search terms, then the
        # evidence's word edges): the second is a hit (~0.5 ms of jieba saved).
        self._segment = functools.lru_cache(maxsize=64)(self._segment_uncached)

    def _segment_uncached(self, text: str) -> tuple[str, ...]:
        return tuple(self._jieba.lcut(text, HMM=True))

    def _segmented(self, text: str) -> tuple[str, ...]:
        # The cache is keyed by a plain str: lru_cache keys a str subclass
        # (index.text.NormalizedText) apart from the equal plain string, so the
        # search's query and the evidence's text would each be segmented.
        return self._segment(str.__str__(text) if type(text) is not str else text)

    # jieba.Tokenizer holds a lock: pickle the configuration, rebuild on load.
    def __getstate__(self):
        return {"user_dict": self.user_dict, "stopwords_path": self.stopwords_path,
                "synonyms_path": self.synonyms_path}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._build()

    @functools.cached_property
    def identity(self) -> str:
        h = hashlib.sha256()
        for p in (self.user_dict, self.stopwords_path, self.synonyms_path):
            if p and p.is_file():
                h.update(p.read_bytes())
        return f"jieba-0.42.1+hotline-dict:{h.hexdigest()[:12]}"

    @property
    def synonyms(self) -> dict[str, list[str]]:
        """The synonym map, re-read when its file changes (checked at most once a
        second): synonyms apply at query time, so editing them needs no reindex."""
        now = time.monotonic()
        if self.synonyms_path and now - self._synonyms_checked >= 1.0:
            self._synonyms_checked = now
            try:
                mtime = os.stat(self.synonyms_path).st_mtime_ns
            except FileNotFoundError:
                mtime = None
            if mtime != self._synonyms_mtime:
                self._synonyms = load_synonyms(self.synonyms_path)
                self._synonyms_mtime = mtime
        return self._synonyms

    def cut(self, text: str) -> list[str]:
        """Every token, in order (whitespace dropped). Expects normalised text."""
        return [t for t in self._segmented(text) if t.strip()]

    def terms(self, text: str, subwords: bool = False) -> list[str]:
        """Content terms for lexical matching: lower-cased, no stopwords or punctuation.

        ``subwords=True`` also emits the dictionary words inside long compounds
        (jieba's search mode), so 居住证签注 still matches a query that says 居住证."""
        out = []
        tokens = self._jieba.lcut_for_search(text, HMM=True) if subwords else self._segmented(text)
        for tok in tokens:
            tok = tok.strip().lower()
            if tok and tok not in self.stopwords and _WORDLIKE.search(tok):
                out.append(tok)
        return out

    def expand(self, terms: list[str]) -> list[str]:
        """Add dictionary synonyms of each term (query-time expansion)."""
        out = list(terms)
        seen = set(terms)
        synonyms = self.synonyms
        for t in terms:
            for s in synonyms.get(t, ()):
                if s not in seen:
                    seen.add(s)
                    out.append(s)
        return out


_shared: Tokenizer | None = None
_shared_lock = threading.Lock()


def get_tokenizer() -> Tokenizer:
    """The process-wide tokenizer: the dictionary is loaded once per process."""
    global _shared
    if _shared is None:
        with _shared_lock:
            if _shared is None:
                _shared = Tokenizer()
    return _shared
