"""Fit the learned urgency signal (``dispatch.urgency_signal``) on the project's
own written calls and save it where the service loads it (package data, as
the calls it learns from are ours to ship).

    python -m training.train_urgency [--out DIR]

Learns from urgency_dev.csv, urgency_test.csv, urgency_test2.csv and
urgency_probes.csv in training/data; never from urgency_test3.csv, the test
set (docs/dispatch.md, "Urgency"). Deterministic: the same files give the same
weights.
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

from dispatch.urgency_signal import SHIPPED, UrgencySignal

DATA = Path(__file__).parent / "data"
SOURCES = ("urgency_dev.csv", "urgency_test.csv", "urgency_test2.csv", "urgency_probes.csv")
TEST = "urgency_test3.csv"


def read_calls(paths) -> tuple[list[str], list[bool]]:
    texts, urgent = [], []
    for path in paths:
        with open(path, encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                texts.append(row["text"])
                urgent.append(row["urgent"] == "紧急")
    return texts, urgent


def sources(paths) -> dict:
    from foundation.artifacts import file_hash

    return {Path(p).name: file_hash(Path(p)) for p in paths}


def train(out: Path = SHIPPED, data: Path = DATA) -> UrgencySignal:
    from index.text import Normalizer

    paths = [data / name for name in SOURCES]
    texts, urgent = read_calls(paths)
    norm = Normalizer()
    signal = UrgencySignal().fit([norm(t) for t in texts], urgent)
    signal.save(out, sources=sources(paths))
    return signal


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=SHIPPED, help=f"where to write it (default {SHIPPED})")
    args = p.parse_args(argv)
    signal = train(args.out)
    print(f"urgency signal: {len(signal.grams_)} n-grams, threshold {signal.threshold} -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
