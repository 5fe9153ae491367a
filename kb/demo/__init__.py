"""The deterministic demo KB of a fictional 12345 city line (海州市).

``build_demo(settings, seed=0, scale=1.0)`` writes ``departments.json``,
``work_orders.csv`` and ``search_queries.jsonl`` into ``settings.demo_dir`` and
imports the entries into the KB at ``settings.kb_path`` (mode="replace").
``generate(seed, scale)`` returns the rows without touching disk.
"""
from kb.demo.build import build_demo
from kb.demo.generate import DemoError, DemoKB, generate

__all__ = ["build_demo", "generate", "DemoKB", "DemoError"]
