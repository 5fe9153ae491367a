"""Experiment (issue 24): the cold-start router on input-sized draws, per topics file.

The batch command fits the router to the rows it routes, so a 1,000-row input
scores differently from the 4,983 labelled messages as a whole. This draws
``--draws`` random ``--size``-row samples of the chosen folds (the split of
``training.eval_coldstart``: folds 0-1 tune, folds 2-4 are not looked at), fits
``ColdStartRouter(DEPTS, topics_path=T).fit(texts)`` on each, as
``hotline reclassify --departments`` does, and prints the macro-F1 over the
labelled domains per draw, for each topics file on the same draws.

    python -m training.experiments.coldstart_draws --departments DEPTS.json \\
        [--topics FILE ...] [--folds 0,1] [--draws 8] [--size 1000] [--seed 2121]

With no ``--topics`` the shipped file is scored. Two names stand for files:
``shipped``, and ``broad``: the shipped file plus session 21's 425 untargeted
examples (``training/data/coldstart_broad/examples.json``, docs/dispatch.md,
"Session 21"); ``broad:TOPIC,TOPIC`` adds only those topics' examples.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

BROAD_DIR = Path(__file__).resolve().parents[1] / "data" / "coldstart_broad"


def merged_topics(extra: dict[str, list[str]]) -> dict:
    """The shipped topics file with ``extra`` examples appended per topic name
    (an unknown name is an error: it would be silently unused)."""
    from classifier.coldstart import TOPICS_FILE

    topics = json.loads(Path(TOPICS_FILE).read_text(encoding="utf-8"))
    by_name = {t["topic"]: t for t in topics["topics"]}
    unknown = sorted(set(extra) - set(by_name))
    if unknown:
        raise ValueError(f"topics {unknown} are not in the topics file; expected some of "
                         f"{sorted(by_name)}")
    for name, examples in extra.items():
        have = set(by_name[name]["examples"])
        for e in examples:
            if e not in have:
                by_name[name]["examples"].append(e)
                have.add(e)
    return topics


def score_draws(departments: list[dict], texts: list[str], y: np.ndarray, topics: list[str | None],
                draws: int, size: int, seed: int) -> dict[str, list[float]]:
    """Macro-F1 per draw for each topics file (None: the shipped one), same draws."""
    from sklearn.metrics import f1_score

    from classifier.coldstart import ColdStartRouter
    from classifier.features import TextFeatures

    rng = np.random.default_rng(seed)
    picks = [rng.choice(len(texts), min(size, len(texts)), replace=False) for _ in range(draws)]
    # Each draw's texts and features once, shared by every topics file.
    samples = [([texts[i] for i in idx], y[idx]) for idx in picks]
    features = [TextFeatures(sample) for sample, _ in samples]
    out: dict[str, list[float]] = {}
    for n, path in enumerate(topics):
        scores = []
        for (sample, gold), prep in zip(samples, features):
            router = ColdStartRouter(departments, topics_path=path).fit(sample)
            pred = np.array(router.labels_)[router.predict_proba(prep).argmax(1)]
            scores.append(round(float(f1_score(gold, pred, labels=sorted(set(gold)),
                                               average="macro", zero_division=0)), 4))
        out[f"{n}:{path or 'shipped'}"] = scores
    return out


def main(argv=None) -> int:
    from classifier.bundle import load_departments_file
    from foundation.settings import Settings
    from training.eval_coldstart import read_labelled

    p = argparse.ArgumentParser(prog="python -m training.experiments.coldstart_draws")
    p.add_argument("--departments", type=Path, required=True)
    p.add_argument("--data", type=Path, help="title,detail,label_l1 CSV (default: the shared "
                   "gov messages_train.csv)")
    p.add_argument("--topics", nargs="*", default=["shipped"])
    p.add_argument("--folds", default="0,1")
    p.add_argument("--draws", type=int, default=8)
    p.add_argument("--size", type=int, default=1000)
    p.add_argument("--seed", type=int, default=2121)
    a = p.parse_args(argv)
    data = a.data or Path(Settings().shared_data) / "gov_messages" / "messages_train.csv"
    texts, y, fold = read_labelled(data)
    keep = np.isin(fold, [int(f) for f in a.folds.split(",")])
    texts, y = [t for t, k in zip(texts, keep) if k], y[keep]
    with tempfile.TemporaryDirectory() as tmp:
        paths = [_topics_path(name, Path(tmp) / f"topics_{i}.json")
                 for i, name in enumerate(a.topics)]
        report = score_draws(load_departments_file(a.departments), texts, y, paths,
                             a.draws, a.size, a.seed)
        for name, scores in zip(a.topics, report.values()):
            print(f"{name}: mean {np.mean(scores):.4f}  "
                  f"draws {' '.join(f'{s:.4f}' for s in scores)}")
    return 0


def _topics_path(name: str, target: Path) -> str | None:
    """``shipped`` -> None (the router's default), ``broad[:T1,T2]`` -> a merged
    file written to ``target``, anything else -> a topics file's path."""
    if name == "shipped":
        return None
    if name != "broad" and not name.startswith("broad:"):
        return name
    extra = json.loads((BROAD_DIR / "examples.json").read_text(encoding="utf-8"))
    if ":" in name:
        wanted = name.split(":", 1)[1].split(",")
        extra = {t: extra[t] for t in wanted}
    target.write_text(json.dumps(merged_topics(extra), ensure_ascii=False), encoding="utf-8")
    return str(target)


if __name__ == "__main__":
    raise SystemExit(main())
