"""PNG plots for the change report (matplotlib, Agg backend, no display).

Department names are Chinese; if no installed font has CJK glyphs (a bare
server), labels are replaced by short codes D1, D2 ... and the mapping is
returned so the report can print it, instead of drawing empty boxes.
"""
from __future__ import annotations

from pathlib import Path

from foundation.plotting import cjk_font



def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    font = cjk_font()
    if font:
        plt.rcParams["font.sans-serif"] = [font, "DejaVu Sans"]
        plt.rcParams["axes.unicode_minus"] = False
    return plt


def _display_labels(labels: list[str]) -> tuple[list[str], dict[str, str] | None]:
    if cjk_font() or all(l.isascii() for l in labels):
        return labels, None
    codes = {l: f"D{i + 1}" for i, l in enumerate(labels)}
    return [codes[l] for l in labels], codes


def bar_chart(labels, old, new, path: Path, title: str) -> dict[str, str] | None:
    """Grouped bars, old count vs new count per label. Returns the code mapping
    used on the axis, or None when the real labels could be drawn."""
    plt = _plt()
    shown, codes = _display_labels(list(labels))
    width = 0.4
    xs = range(len(shown))
    fig, ax = plt.subplots(figsize=(max(6, 0.8 * len(shown) + 2), 4.5))
    ax.bar([x - width / 2 for x in xs], old, width, label="old")
    ax.bar([x + width / 2 for x in xs], new, width, label="new")
    ax.set_xticks(list(xs), shown, rotation=45 if len(shown) > 6 else 0, ha="right" if len(shown) > 6 else "center")
    ax.set_ylabel("rows")
    ax.set_title(title if title.isascii() or cjk_font() else "old vs new")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return codes


def heatmap(labels, matrix, path: Path, title: str) -> None:
    import numpy as np

    plt = _plt()
    shown, _ = _display_labels(list(labels))
    m = np.asarray(matrix, dtype=float)
    # Colour by row share, so a small department's misroutes are as visible as a big one's.
    share = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    n = len(shown)
    fig, ax = plt.subplots(figsize=(max(5, 0.7 * n + 2.5), max(4, 0.6 * n + 2)))
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), shown, rotation=45 if n > 6 else 0, ha="right" if n > 6 else "center")
    ax.set_yticks(range(n), shown)
    ax.set_xlabel("new")
    ax.set_ylabel("old")
    if n <= 20:
        for i in range(n):
            for j in range(n):
                if m[i, j]:
                    ax.text(j, i, f"{int(m[i, j])}", ha="center", va="center", fontsize=8,
                            color="white" if share[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, label="share of old row")
    ax.set_title(title if title.isascii() or cjk_font() else "old (rows) vs new (columns)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
