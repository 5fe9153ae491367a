"""Write the demo files and import the demo entries (what `hotline kb demo` runs)."""
from __future__ import annotations

import csv
import io
import json
import os
import sys
import time
from pathlib import Path

from kb.demo.departments import taxonomy
from kb.demo.generate import SERVICES, generate
from kb.demo.queries import generate_queries
from kb.demo.work_orders import generate_work_orders


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8", newline="")
    os.replace(tmp, path)


def work_orders_csv(rows) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=["title", "detail", "type", "department"], lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def build_demo(settings, seed: int = 0, scale: float = 1.0, progress: bool = True) -> dict:
    """Generate and install the demo; returns a summary of counts and seconds."""
    from kb import KBStore, kb_target
    from kb.taxonomy import TAXONOMY_FILE, load_taxonomy, save_departments

    t0 = time.perf_counter()
    demo_dir = Path(settings.demo_dir)
    demo_dir.mkdir(parents=True, exist_ok=True)
    tax_path = demo_dir / TAXONOMY_FILE   # the demo's own list, never a configured one
    save_departments(tax_path, taxonomy())

    kb = generate(seed, scale)
    n_orders = max(300, round(6600 * scale))
    orders = generate_work_orders(list(SERVICES), seed, n=n_orders, min_per_dept=12 if scale >= 0.5 else 3)
    _write_text(demo_dir / "work_orders.csv", work_orders_csv(orders))
    queries = generate_queries(kb, seed, n=max(50, round(500 * scale)))
    _write_text(demo_dir / "search_queries.jsonl",
                "".join(json.dumps(q, ensure_ascii=False) + "\n" for q in queries))
    t_gen = time.perf_counter() - t0

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(kb.entries), desc="demo KB import", unit="entry", file=sys.stderr,
                   disable=not progress)

    def _progress(phase, n, total):
        if bar is not None and phase == "write":
            bar.update(n)

    if settings.kb_is_sqlite:
        Path(settings.kb_path).parent.mkdir(parents=True, exist_ok=True)
    store = KBStore(kb_target(settings), taxonomy=load_taxonomy(tax_path))
    try:
        report = store.import_rows(kb.entries, mode="replace", by="demo", progress=_progress)
    finally:
        store.close()
        if bar is not None:
            bar.close()
    published = sum(1 for e in kb.entries if e["status"] == "published")
    return {"entries": len(kb.entries), "published": published, "departments": len(taxonomy()),
            "work_orders": len(orders), "queries": len(queries), "seed": seed, "scale": scale,
            "demo_dir": str(demo_dir), "kb_path": store.location,
            "generate_seconds": round(t_gen, 2), "import": {"added": report.added, "updated": report.updated,
                                                             "unchanged": report.unchanged, "deleted": report.deleted},
            "seconds": round(time.perf_counter() - t0, 2)}
