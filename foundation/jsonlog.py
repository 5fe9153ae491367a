"""Structured logs: one JSON object per line.

``configure`` switches the root logger to JSON lines (``hotline serve`` calls
it; library log records such as build progress then come out in the same
format). Extra fields given to a log call become keys of its line.

Every line is one physical line that displays as what it holds:
:class:`JSONFormatter` writes, besides the C0 controls JSON escapes anyway, DEL and
C1 controls, bidi controls (U+202A-E, U+2066-9, U+200E/F, U+061C), zero-width and
other format characters, line/paragraph separators and lone surrogates as
``\\uXXXX`` escapes, in every field (``json.dumps(..., ensure_ascii=False)`` leaves
them raw, so a request could reorder or hide what a log viewer shows).
"""
from __future__ import annotations

import json
import logging
import re
import sys
import time

_STD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}
# Characters json.dumps(ensure_ascii=False) leaves raw that can spoof or break a log line:
# DEL and C1 controls, soft hyphen, Arabic format characters and letter mark, Mongolian
# vowel separator, zero-width and LRM/RLM, line/paragraph separators, bidi embeddings,
# overrides and isolates, word joiner and invisible operators, BOM, interlinear
# annotation marks, tag characters, and lone surrogates. They can only occur inside JSON
# strings, where a \uXXXX escape decodes to the same text.
_UNSAFE = re.compile("[\x7f-\x9f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u180e\u200b-\u200f"
                     "\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
                     "\U000e0001\U000e0020-\U000e007f\ud800-\udfff]")


def _escape(m: re.Match) -> str:
    code = ord(m.group())
    if code > 0xFFFF:  # JSON escapes astral characters as a surrogate pair
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def escape_unsafe(line: str) -> str:
    """``line`` (JSON text) with the characters of :data:`_UNSAFE` as \\uXXXX escapes."""
    return _UNSAFE.sub(_escape, line)


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                  + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return escape_unsafe(json.dumps(out, ensure_ascii=False, default=str))


def configure(level: str = "INFO", stream=None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JSONFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


