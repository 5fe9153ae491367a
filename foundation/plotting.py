"""Matplotlib set-up shared by reports: headless backend, a font with CJK glyphs."""
from __future__ import annotations

import functools

_PROBE = "城乡建设环境保护"


@functools.lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The name of an installed font that draws Chinese, or None (looked up once:
    scanning the installed fonts takes a while)."""
    from matplotlib import font_manager

    for entry in font_manager.fontManager.ttflist:
        if "last resort" in entry.name.lower():
            continue  # maps every code point to a placeholder box
        try:
            from matplotlib.ft2font import FT2Font

            font = FT2Font(entry.fname)
            charmap = font.get_charmap()
        except Exception:  # noqa: BLE001 - an unreadable font is just skipped
            continue
        if all(ord(ch) in charmap for ch in _PROBE):
            return entry.name
    return None
