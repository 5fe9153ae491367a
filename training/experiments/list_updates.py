"""Experiment (issue 24): a department added to the list after training.

For each labelled domain D of the gov messages: train the department head
without D's rows (fold ``k`` of 5 held out, as ``training.eval_gov``), then
route fold ``k`` with the list in force = the shared taxonomy's 15 level-1
names (keywords: their level-2/3 names), through ``classifier.list_updates``.
Reports macro-F1 over the 7 domains for the head alone (it cannot name D) and
with the list, D's recall, and the share of other rows the list takes away.

    python -m training.experiments.list_updates [--fold 2]
"""
from __future__ import annotations

import argparse
import csv
import json

import numpy as np


def main(argv=None) -> int:
    from sklearn.metrics import f1_score

    from classifier import RECIPES, TextHead
    from classifier.features import TextFeatures
    from classifier.list_updates import ListUpdates
    from foundation.settings import Settings
    from training import gov_data as g
    from training.eval_gov import _texts, _titles_of

    p = argparse.ArgumentParser()
    p.add_argument("--fold", type=int, default=2)
    a = p.parse_args(argv)
    s = Settings()
    tax: dict[str, set] = {}
    with open(g.gov_dir(s) / "taxonomy_3level.csv", encoding="utf-8-sig") as fh:
        for r in csv.DictReader(fh):
            tax.setdefault(r["一级分类"], set()).update(k for k in (r["二级分类"], r["三级分类"]) if k)
    in_force = [{"name": n, "responsibilities": "", "keywords": sorted(k)} for n, k in tax.items()]
    msgs = g.read_rows(g.gov_dir(s) / "messages_train.csv")
    dev = [r for r in msgs if g.fold_of(r["title"] + r["detail"], 5) == a.fold]
    rows_all = g.department_rows(s, exclude_titles=_titles_of(dev), exclude_fold=(a.fold, 5)).rows
    y = np.array([r["label_l1"] for r in dev])
    prep = TextFeatures(_texts(dev))
    labels7 = sorted(set(y))
    out = {}
    for left_out in labels7:
        rows = [r for r in rows_all if r["department"] != left_out]
        head = TextHead(**RECIPES["department"], folds=2).fit(
            TextFeatures(_texts(rows)), [r["department"] for r in rows])
        probs = head.predict_proba(prep)
        alone = np.array(head.labels_)[probs.argmax(1)]
        trained = [{"name": n, "keywords": sorted(tax.get(n, []))} for n in head.labels_]
        upd = ListUpdates(head.labels_, trained, in_force).fit()
        labels, p2, _, notes = upd.apply(prep, probs, head.needs_review(probs))
        routed = np.array(labels)[p2.argmax(1)]
        moved = np.array([n is not None for n in notes])
        out[left_out] = {
            "head_alone": round(float(f1_score(y, alone, labels=labels7, average="macro")), 4),
            "with_list": round(float(f1_score(y, routed, labels=labels7, average="macro")), 4),
            "recall_new": round(float(np.mean(routed[y == left_out] == left_out)), 3),
            "others_taken": round(float(np.mean(moved & (y != left_out))), 3)}
        print(left_out, json.dumps(out[left_out]), flush=True)
    mean = {k: round(float(np.mean([v[k] for v in out.values()])), 4)
            for k in next(iter(out.values()))}
    print("mean", json.dumps(mean))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
