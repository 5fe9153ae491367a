"""Which type model holds on data it never saw: TF-IDF heads on more data, a
sentence-encoder head, and their ensemble, measured on three dev sets the
models never trained on (real messages labelled by the project, typed_dev's
hand labels, the phone-style dev groups).

    python -m training.experiments.type_models [--home H] [--embedder use]
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

THREE = ["complaint", "consult", "fault"]


def _macro3(y, pred):
    from sklearn.metrics import f1_score

    y, pred = np.asarray(y), np.asarray(pred)
    keep = np.isin(y, THREE)
    return round(float(f1_score(y[keep], pred[keep], labels=THREE, average="macro",
                                zero_division=0)), 4)


def _per_class(y, pred):
    from sklearn.metrics import f1_score

    y, pred = np.asarray(y), np.asarray(pred)
    keep = np.isin(y, THREE)
    f = f1_score(y[keep], pred[keep], labels=THREE, average=None, zero_division=0)
    return {l: round(float(v), 3) for l, v in zip(THREE, f)}


def _texts(rows):
    from classifier.features import join_parts

    return [join_parts([(r.get("title") or "").strip(), (r.get("detail") or "").strip()])
            for r in rows]


def main(argv=None) -> int:
    from classifier.features import TextFeatures
    from classifier.head import RECIPES, TextHead
    from foundation.settings import Settings
    from index.embedders import get_embedder
    from training import gov_data as g

    ap = argparse.ArgumentParser()
    ap.add_argument("--home")
    ap.add_argument("--embedder", default="use")
    ap.add_argument("--ambiguous-weight", type=float, default=0.5)
    ap.add_argument("--chars", type=int, default=400, help="encoder input: first N characters")
    ap.add_argument("--configs", default="", help="comma-separated config numbers (default all)")
    args = ap.parse_args(argv)
    settings = Settings.load({"home": args.home} if args.home else {})
    gov_train = g.labelled_messages(settings, "train")
    gov_dev = [r for r in g.labelled_messages(settings, "dev") if r["clarity"] == "clear"]
    typed = g.typed_dev(settings)
    typed_clear = [r for r in typed if r["clarity"] == "clear"]
    phone_train, phone_dev = g.phone_calls("train"), g.phone_calls("dev")
    devs = {"gov_dev": gov_dev, "typed_dev": typed_clear, "phone_dev": phone_dev}
    emb = get_embedder(args.embedder, settings)
    cache: dict[str, np.ndarray] = {}

    def vecs(rows):
        texts = [t.replace("\n", " ")[:args.chars] for t in _texts(rows)]
        missing = [t for t in dict.fromkeys(texts) if t not in cache]
        if missing:
            for t, v in zip(missing, emb.embed(missing, kind="doc")):
                cache[t] = v
        return np.vstack([cache[t] for t in texts])

    configs = {
        "typed_dev only (today's data)": typed,
        "gov labels + phone": gov_train + phone_train,
        "gov labels + phone + typed_dev": gov_train + phone_train + typed,
    }
    report = {}
    if args.configs:
        keep = {int(c) for c in args.configs.split(",")}
        configs = {k: v for i, (k, v) in enumerate(configs.items()) if i in keep}
    for name, rows in configs.items():
        t0 = time.perf_counter()
        w = np.array([1.0 if r.get("clarity", "clear") == "clear" else args.ambiguous_weight
                      for r in rows])
        y = [r["type"] for r in rows]
        head = TextHead(**RECIPES["type"], folds=5).fit(TextFeatures(_texts(rows)), y,
                                                        sample_weight=w)
        from sklearn.linear_model import LogisticRegression

        enc = LogisticRegression(C=4.0, class_weight="balanced", max_iter=3000)
        enc.fit(vecs(rows), y, sample_weight=w)
        res = {"rows": len(rows), "seconds": round(time.perf_counter() - t0, 1)}
        for dev_name, dev in devs.items():
            if dev_name == "typed_dev" and "typed_dev" in name:
                continue  # trained on it
            yd = [r["type"] for r in dev]
            ph = head.predict_proba(TextFeatures(_texts(dev)))
            pe = enc.predict_proba(vecs(dev))
            pe = pe[:, [list(enc.classes_).index(l) for l in head.labels_]]
            out = {}
            for mix_name, p in (("tfidf", ph), ("encoder", pe),
                                ("ensemble 0.5", 0.5 * ph + 0.5 * pe),
                                ("ensemble 0.3enc", 0.7 * ph + 0.3 * pe)):
                pred = [head.labels_[i] for i in p.argmax(1)]
                out[mix_name] = {"macro_f1": _macro3(yd, pred), "f1": _per_class(yd, pred)}
            res[dev_name] = out
        report[name] = res
        print(json.dumps({name: res}, ensure_ascii=False, indent=1), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


def department(argv=None) -> int:
    """The department head: messages_train 80/20 by message id (stable), titles_train
    for training only (held-out titles removed); TF-IDF head vs encoder vs ensemble."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score

    from classifier.features import TextFeatures
    from classifier.head import RECIPES, TextHead
    from foundation.settings import Settings
    from index.embedders import get_embedder
    from index.text import normalize
    from training import gov_data as g

    ap = argparse.ArgumentParser()
    ap.add_argument("--home")
    ap.add_argument("--chars", type=int, default=400)
    args = ap.parse_args(argv)
    settings = Settings.load({"home": args.home} if args.home else {})
    msgs = g.read_rows(g.gov_dir(settings) / "messages_train.csv")
    dev = [r for r in msgs if g.dev_fold(r["msg_id"])]
    held = {normalize(r["title"]) for r in dev}
    rows = g.department_rows(settings, exclude_titles=held).rows
    emb = get_embedder("use", settings)
    t0 = time.perf_counter()
    tr_texts = _texts(rows)
    y = [r["department"] for r in rows]
    head = TextHead(**RECIPES["department"], folds=3).fit(TextFeatures(tr_texts), y)
    t1 = time.perf_counter()
    cut = lambda ts: [t.replace("\n", " ")[:args.chars] for t in ts]
    xv = emb.embed(cut(tr_texts), kind="doc")
    t2 = time.perf_counter()
    enc = LogisticRegression(C=4.0, max_iter=3000).fit(xv, y)
    dev_rows = [{"title": r["title"], "detail": r["detail"]} for r in dev]
    yd = [r["label_l1"] for r in dev]
    ph = head.predict_proba(TextFeatures(_texts(dev_rows)))
    pe = enc.predict_proba(emb.embed(cut(_texts(dev_rows)), kind="doc"))
    pe = pe[:, [list(enc.classes_).index(l) for l in head.labels_]]
    out = {"train_rows": len(rows), "dev_rows": len(dev), "tfidf_fit_s": round(t1 - t0, 1),
           "embed_s": round(t2 - t1, 1)}
    for name, p in (("tfidf", ph), ("encoder", pe), ("ensemble 0.5", 0.5 * ph + 0.5 * pe),
                    ("ensemble 0.3enc", 0.7 * ph + 0.3 * pe)):
        pred = [head.labels_[i] for i in p.argmax(1)]
        out[name] = round(float(f1_score(yd, pred, average="macro")), 4)
    print(json.dumps(out, ensure_ascii=False), flush=True)
    return 0
