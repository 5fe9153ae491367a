"""Fit the learned urgency signal (``dispatch.urgency_signal``) on the project's
own written calls and save it where the service loads it (package data, as
the calls it learns from are ours to ship).

    python -m training.train_urgency [--out DIR]

Learns from urgency_dev.csv, urgency_test.csv, urgency_test2.csv and
urgency_probes.csv in training/data, and from phone_calls.csv with the
urgency labels read for it (labels/phone_calls_urgency.csv, by id): the
ordinary traffic of a line, where most calls are not urgent; never from
urgency_test3.csv, the test set (docs/dispatch.md, "Urgency").
Deterministic: the same files give the same weights.
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

from dispatch.urgency_signal import SHIPPED, UrgencySignal

DATA = Path(__file__).parent / "data"
SOURCES = ("urgency_dev.csv", "urgency_test.csv", "urgency_test2.csv", "urgency_probes.csv")
# Calls whose urgency lives in a separate label file keyed by id (the texts serve other tasks too).
LABELLED = (("phone_calls.csv", "labels/phone_calls_urgency.csv"),)
TEST = "urgency_test3.csv"


def read_calls(paths) -> tuple[list[str], list[bool]]:
    texts, urgent = [], []
    for path in paths:
        with open(path, encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                texts.append(row["text"])
                urgent.append(row["urgent"] == "紧急")
    return texts, urgent


def read_labelled(calls: Path, labels: Path) -> tuple[list[str], list[bool]]:
    with open(labels, encoding="utf-8", newline="") as fh:
        level = {row["id"]: row["urgent"] for row in csv.DictReader(fh)}
    with open(calls, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    missing = [r["id"] for r in rows if r["id"] not in level]
    if missing:
        raise ValueError(f"{labels} has no urgency for {len(missing)} calls of {calls} "
                         f"(first: {missing[:3]}); label them or drop them")
    return [r["text"] for r in rows], [level[r["id"]] == "紧急" for r in rows]


def source_paths(data: Path = DATA) -> list[Path]:
    return [data / name for name in SOURCES] + [data / p for pair in LABELLED for p in pair]


def sources(paths) -> dict:
    from foundation.artifacts import file_hash

    return {str(Path(p).relative_to(DATA)) if Path(p).is_relative_to(DATA) else Path(p).name:
            file_hash(Path(p)) for p in paths}


def train(out: Path = SHIPPED, data: Path = DATA) -> UrgencySignal:
    from index.text import Normalizer

    texts, urgent = read_calls([data / name for name in SOURCES])
    for calls, labels in LABELLED:
        more_texts, more_urgent = read_labelled(data / calls, data / labels)
        texts += more_texts
        urgent += more_urgent
    norm = Normalizer()
    signal = UrgencySignal().fit([norm(t) for t in texts], urgent)
    signal.save(out, sources=sources(source_paths(data)))
    return signal


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=SHIPPED, help=f"where to write it (default {SHIPPED})")
    args = p.parse_args(argv)
    signal = train(args.out)
    print(f"urgency signal: {len(signal.columns_)} n-gram columns, threshold {signal.threshold} -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
