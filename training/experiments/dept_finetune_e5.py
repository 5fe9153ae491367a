"""Experiment (issue 22): does fine-tuning e5-small as a department classifier
beat the n-gram head on one fold of the labelled gov messages?

Same fold rule as ``training.eval_gov.department_cv`` (fold ``k`` of 5 by text;
the training rows exclude the fold's messages and titles). Writes the dev
probabilities of the n-gram head and of the fine-tuned encoder after each
epoch to ``--out`` and prints macro-F1 alone and blended. CPU only; about
15 minutes an epoch on 2 idle cores at 128 tokens.

    python -m training.experiments.dept_finetune_e5 --st DIR --out DIR [--fold 0]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    import torch
    from sklearn.metrics import f1_score
    from transformers import AutoModel, AutoTokenizer

    from classifier import RECIPES, TextHead
    from classifier.features import TextFeatures
    from foundation.settings import Settings
    from training import gov_data as g
    from training.eval_gov import _texts, _titles_of

    p = argparse.ArgumentParser()
    p.add_argument("--st", required=True, help="sentence-transformers dir of e5-small")
    p.add_argument("--out", required=True)
    p.add_argument("--fold", type=int, default=0)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--max-tokens", type=int, default=128)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=5e-5)
    a = p.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    torch.set_num_threads(2)

    s = Settings()
    msgs = g.read_rows(g.gov_dir(s) / "messages_train.csv")
    dev = [r for r in msgs if g.fold_of(r["title"] + r["detail"], 5) == a.fold]
    rows = g.department_rows(s, exclude_titles=_titles_of(dev), exclude_fold=(a.fold, 5)).rows
    texts, y = _texts(rows), [r["department"] for r in rows]
    dev_texts, dev_y = _texts(dev), [r["label_l1"] for r in dev]
    head = TextHead(**RECIPES["department"], folds=2).fit(TextFeatures(texts), y)
    labels = list(head.labels_)
    p_head = head.predict_proba(TextFeatures(dev_texts))
    np.save(out / "p_head.npy", p_head)
    gold = np.array([labels.index(t) for t in dev_y])

    def f1(pr):
        return round(float(f1_score(gold, pr.argmax(1), average="macro")), 4)

    report = {"fold": a.fold, "train_rows": len(texts), "dev_rows": len(dev), "head": f1(p_head)}
    print(json.dumps(report), flush=True)

    tok = AutoTokenizer.from_pretrained(a.st)
    enc = AutoModel.from_pretrained(a.st)
    clf = torch.nn.Linear(enc.config.hidden_size, len(labels))

    def prompt(t):
        return "query: " + t.replace("\n", "。")

    def embed(batch_texts):
        b = tok([prompt(t) for t in batch_texts], truncation=True, max_length=a.max_tokens,
                padding=True, return_tensors="pt")
        h = enc(**b).last_hidden_state
        m = b["attention_mask"].unsqueeze(-1).float()
        return (h * m).sum(1) / m.sum(1)

    ytr = torch.tensor([labels.index(t) for t in y])
    opt = torch.optim.AdamW([{"params": enc.parameters(), "lr": a.lr},
                             {"params": clf.parameters(), "lr": 1e-3}], weight_decay=0.01)
    # Length-sorted buckets, shuffled: padding costs nothing on titles.
    order = np.argsort([len(t) for t in texts], kind="stable")
    batches = [order[i:i + a.batch] for i in range(0, len(order), a.batch)]
    total = len(batches) * a.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: min(1.0, (step + 1) / (0.1 * total)) * max(0.0, (total - step) / total))
    rng = np.random.default_rng(0)
    step = 0
    for epoch in range(a.epochs):
        enc.train()
        t0 = time.time()
        for bi in rng.permutation(len(batches)):
            idx = batches[bi]
            loss = torch.nn.functional.cross_entropy(clf(embed([texts[i] for i in idx])), ytr[idx])
            loss.backward()
            opt.step(); sched.step(); opt.zero_grad()
            step += 1
            if step % 20 == 0:
                print(f"epoch {epoch} step {step}/{total} loss {loss.item():.3f} "
                      f"{(time.time() - t0) / (step - epoch * len(batches)):.2f}s/step", flush=True)
        enc.eval()
        probs = []
        with torch.no_grad():
            for i in range(0, len(dev_texts), 64):
                probs.append(torch.softmax(clf(embed(dev_texts[i:i + 64])), -1).numpy())
        p_enc = np.concatenate(probs)
        np.save(out / f"p_enc_epoch{epoch}.npy", p_enc)
        report[f"encoder_epoch{epoch}"] = f1(p_enc)
        for w in (0.3, 0.5, 0.7):
            report[f"blend{w}_epoch{epoch}"] = f1(w * p_enc + (1 - w) * p_head)
        report[f"epoch{epoch}_seconds"] = round(time.time() - t0)
        print(json.dumps(report), flush=True)
    (out / "report.json").write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
