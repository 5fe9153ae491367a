"""Normalisation: NFKC (full-width → half-width), traditional → simplified,
control characters stripped, whitespace folded. Idempotent."""
from __future__ import annotations

import functools
import re
import unicodedata

from hotline.errors import EmptyText, InvalidInput, TextTooLong

# Cc/Cf/Cs/Co/Cn categories are dropped, but keep whitespace controls (folded below).
_WHITESPACE = re.compile(r"\s+")
_KEEP_CONTROLS = {"\t", "\n", "\r"}


@functools.lru_cache(maxsize=1)
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


def _strip_controls(text: str) -> str:
    return "".join(
        ch for ch in text
        if ch in _KEEP_CONTROLS or unicodedata.category(ch)[0] != "C"
    )


class Normalizer:
    """Callable normaliser; ``max_chars`` is checked on the raw input in
    :meth:`validate` (the HTTP and CLI layers call it), never silently."""

    def __init__(self, max_chars: int | None = None, t2s: bool = True):
        self.max_chars = max_chars
        self.t2s = t2s

    @property
    def identity(self) -> str:
        """Written into artifact manifests: what was done to text before embedding."""
        return f"nfkc+t2s:{int(self.t2s)}+ctrl+ws/v1"

    def __call__(self, text: str) -> str:
        if not isinstance(text, str):
            raise InvalidInput(f"text must be a string, got {type(text).__name__}")
        # Surrogates (from broken decoding) cannot be encoded; drop them first.
        if not text.isascii():
            text = text.encode("utf-8", "ignore").decode("utf-8")
        # Repeat until stable: t2s can emit characters that NFKC changes. A pass
        # whose t2s step changed nothing and whose result is NFKC-normal and
        # printable is already a fixed point, so most texts need one pass.
        for _ in range(3):
            before = text
            text, converted = self._pass(text)
            if text == before or (not converted and text.isprintable()
                                  and unicodedata.is_normalized("NFKC", text)):
                break
        return text

    def _pass(self, text: str) -> tuple[str, bool]:
        if not unicodedata.is_normalized("NFKC", text):
            text = unicodedata.normalize("NFKC", text)
        text = _WHITESPACE.sub(" ", text)
        # isprintable() is a C-speed test; the per-character filter runs only
        # for the rare text that really holds control or format characters.
        if not text.isprintable():
            text = _WHITESPACE.sub(" ", _strip_controls(text))
        converted = False
        if self.t2s and not text.isascii():
            simplified = _t2s().convert(text)
            converted, text = simplified != text, simplified
        return text.strip(), converted

    def validate(self, text) -> str:
        """Normalise user input, raising clear errors for wrong type, empty, too long."""
        if not isinstance(text, str):
            raise InvalidInput(f"text must be a string, got {type(text).__name__}")
        if self.max_chars is not None and len(text) > self.max_chars:
            raise TextTooLong(
                f"text has {len(text)} characters; the limit is {self.max_chars}")
        out = self(text)
        if not out:
            raise EmptyText("text is empty after normalisation")
        return out


_default = Normalizer()


def normalize(text: str) -> str:
    return _default(text)
