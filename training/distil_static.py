"""Distil the fast tier: a sentence-transformers ``StaticEmbedding`` model
trained to reproduce the default encoder's sentence vectors.

1. Corpus: text the project has — the KB's questions if a KB exists, plus
   sentences from shared data (message titles and body sentences, policy
   questions, STS-B *train*). The sts_zh validation sets are never used, so
   ``hotline eval embedder`` stays held-out for this model.
2. Vocabulary: jieba's dictionary words (top by frequency) plus the corpus's
   jieba words and every character seen, as a ``tokenizers`` Unigram model whose
   scores are jieba's log frequencies — the same max-probability segmentation
   jieba does, but in Rust and without a Python loop per sentence.
3. Each token row starts as the teacher's embedding of that token alone, then
   the rows are fitted so the mean of a sentence's rows matches the teacher's
   sentence vector (MSE, ridge-pulled towards that initialisation, solved
   exactly by conjugate gradients).

    python -m training.distil_static [--home DIR] [--ridge 0.01] [--max-sentences 30000]
"""
from __future__ import annotations

import argparse
import csv
import logging
import math
import random
import re
import time
from collections import Counter
from pathlib import Path

import numpy as np

from foundation.artifacts import building, data_hash, file_hash, write_manifest

log = logging.getLogger(__name__)

KIND = "embedder"
FORMAT_VERSION = 1
_SENT_SPLIT = re.compile(r"[。！？!?；;\n]+")
_CJK = re.compile(r"[\u4e00-\u9fff]")


def _csv_column(path: Path, *cols: str) -> list[str]:
    if not path.is_file():
        return []
    with open(path, encoding="utf-8", newline="") as fh:
        return [row[c] for row in csv.DictReader(fh) for c in cols if row.get(c)]


def kb_texts(settings) -> list[str]:
    """Questions and similar questions of the KB, if one exists (built by `hotline kb demo`)."""
    from kb import KBStore, kb_exists, kb_target

    try:
        if not kb_exists(settings):
            return []
        store = KBStore(kb_target(settings))
        return [t for e in store.iter_entries() for t in [e.question, *e.similar_questions] if t]
    except Exception as exc:  # the KB is a bonus, never a reason to fail the build
        log.warning("could not read KB texts from %s: %s", kb_target(settings), exc)
        return []


def corpus(settings, max_sentences: int, seed: int = 0) -> list[str]:
    from index.text import normalize

    shared = Path(settings.shared_data)
    gov, qa, sts = shared / "gov_messages", shared / "ncp_policy_qa", shared / "sts_zh"
    texts = kb_texts(settings)
    texts += _csv_column(gov / "titles_train.csv", "title")
    texts += _csv_column(gov / "messages_train.csv", "title")
    texts += _csv_column(gov / "unlabeled_messages.csv", "title")
    texts += _csv_column(qa / "qa_train.csv", "question")
    texts += _csv_column(sts / "STS-B_train.csv", "sentence1", "sentence2")
    for body in (_csv_column(gov / "messages_train.csv", "detail")
                 + _csv_column(gov / "unlabeled_messages.csv", "detail")):
        texts += [s for s in _SENT_SPLIT.split(body) if 4 <= len(s) <= 80]
    uniq = sorted({t for t in (normalize(x) for x in texts) if t})
    random.Random(seed).shuffle(uniq)
    return uniq[:max_sentences]


def build_tokenizer(sentences: list[str], top_words: int = 40000):
    """Unigram tokenizer over jieba's dictionary (log-frequency scores)."""
    import jieba
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    from index.text import get_tokenizer

    freq: dict[str, int] = {}
    with open(Path(jieba.__file__).with_name("dict.txt"), encoding="utf-8") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) >= 2 and _CJK.search(parts[0]) and " " not in parts[0]:
                freq[parts[0]] = int(parts[1])
    words = set(sorted(freq, key=lambda w: (-freq[w], w))[:top_words])
    cut = get_tokenizer().cut
    seen = Counter(w for s in sentences for w in cut(s))
    words |= {w for w, c in seen.items() if c >= 2 and len(w) <= 8 and not w.isspace()}
    chars = {ch for s in sentences for ch in s if not ch.isspace()}
    chars |= {ch for w in words for ch in w}
    chars |= set("abcdefghijklmnopqrstuvwxyz0123456789")
    pieces = sorted(words | chars)
    total = sum(freq.values())
    # Unknown-to-jieba pieces get a small count so known words win segmentation.
    vocab = [("[UNK]", math.log(1 / total))]
    vocab += [(p, math.log(max(freq.get(p, 0), 1 if len(p) == 1 else 2) / total)) for p in pieces]
    tok = Tokenizer(models.Unigram(vocab, unk_id=0, byte_fallback=False))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    return tok


def _flat(encs):
    ids = [e.ids for e in encs]
    lens = np.array([len(x) for x in ids], dtype=np.int64)
    flat = np.fromiter((i for x in ids for i in x), dtype=np.int64, count=int(lens.sum()))
    return flat, lens


def bag_matrix(tok, sentences: list[str], vocab_size: int):
    """Sparse [n_sentences, vocab] matrix whose rows average a sentence's token rows."""
    from scipy import sparse

    encs = tok.encode_batch(sentences, add_special_tokens=False)
    flat, lens = _flat(encs)
    rows = np.repeat(np.arange(len(encs)), lens)
    vals = np.repeat(1.0 / np.maximum(lens, 1), lens).astype(np.float32)
    return sparse.csr_matrix((vals, (rows, flat)), shape=(len(encs), vocab_size), dtype=np.float32)


def fit_rows(bags, targets: np.ndarray, init: np.ndarray, ridge: float = 0.01,
             iters: int = 60) -> np.ndarray:
    """Token rows W minimising ||bags @ W - targets||^2 + ridge * ||W - init||^2.

    The exact optimum of the MSE distillation objective, pulled towards the
    teacher's own embedding of each token (so words the corpus never shows keep
    a sensible vector). Solved by conjugate gradients on all 512 columns at once:
    deterministic, and seconds instead of minutes of SGD epochs.
    """
    from tqdm import tqdm

    bt = bags.T.tocsr()

    def apply(w):
        return bt @ (bags @ w) + ridge * w

    x = init.astype(np.float32).copy()
    r = (bt @ targets + ridge * init) - apply(x)
    p = r.copy()
    rs = np.einsum("ij,ij->j", r, r)
    for _ in tqdm(range(iters), desc="distil static (CG)", unit="it", mininterval=2):
        ap = apply(p)
        alpha = rs / np.maximum(np.einsum("ij,ij->j", p, ap), 1e-30)
        x += alpha * p
        r -= alpha * ap
        rs_new = np.einsum("ij,ij->j", r, r)
        p = r + (rs_new / np.maximum(rs, 1e-30)) * p
        rs = rs_new
    return x.astype(np.float32)


def build(final_dir: Path, settings, teacher=None, max_sentences: int = 30000,
          top_words: int = 40000, ridge: float = 0.01, seed: int = 0) -> dict:
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import StaticEmbedding

    from index.embedders import get_embedder
    from index.text import Normalizer, get_tokenizer

    t0 = time.perf_counter()
    torch.set_num_threads(2)
    teacher = teacher or get_embedder("use", settings)
    sentences = corpus(settings, max_sentences, seed)
    if len(sentences) < 100:
        raise RuntimeError(f"only {len(sentences)} training sentences found under "
                           f"{settings.shared_data} and the KB; expected thousands")
    n_dev = max(50, len(sentences) // 20)
    dev, train_s = sentences[:n_dev], sentences[n_dev:]
    tok = build_tokenizer(train_s, top_words)
    pieces = [tok.id_to_token(i) for i in range(tok.get_vocab_size())]
    log.info("static: %d sentences, vocabulary %d; embedding with the teacher", len(sentences), len(pieces))
    init = teacher.embed(pieces)
    init[0] = 0.0  # [UNK]
    targets = teacher.embed(train_s)
    weights = fit_rows(bag_matrix(tok, train_s, len(pieces)), targets, init, ridge=ridge)

    model = SentenceTransformer(modules=[StaticEmbedding(tok, embedding_weights=weights)], device="cpu")
    with building(final_dir) as tmp:
        model.save(str(tmp))
        from index.embedders.static import StaticModel, static_module_dir

        student = StaticModel(static_module_dir(tmp))
        s = student.encode(dev)
        s /= np.clip(np.linalg.norm(s, axis=1, keepdims=True), 1e-9, None)
        cos = np.sum(s * teacher.embed(dev), axis=1)
        weight_file = next(tmp.rglob("model.safetensors"))
        manifest = write_manifest(
            tmp, KIND, FORMAT_VERSION, name="static", backend="numpy", dim=int(weights.shape[1]),
            teacher=teacher.identity, normalizer=Normalizer().identity,
            tokenizer="unigram over jieba dict.txt log-frequencies",
            vocab_source_tokenizer=get_tokenizer().identity,
            vocab_size=len(pieces), train_sentences=len(train_s), dev_sentences=len(dev),
            corpus_hash=data_hash(sentences), ridge=ridge, seed=seed,
            model_hash=file_hash(weight_file),
            dev_cos_to_teacher={"mean": float(cos.mean()), "p10": float(np.quantile(cos, 0.1))},
            build_seconds=round(time.perf_counter() - t0, 1))
    log.info("static embedder written to %s (dev cos to teacher %.3f)", final_dir, cos.mean())
    return manifest


def main(argv=None) -> int:
    from foundation.settings import Settings

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--home")
    p.add_argument("--shared-data")
    p.add_argument("--ridge", type=float, default=0.01)
    p.add_argument("--max-sentences", type=int, default=30000)
    p.add_argument("--top-words", type=int, default=40000)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    settings = Settings.load({"home": args.home, "shared_data": args.shared_data})
    from training.embedders import ensure

    ensure("use", settings)
    m = build(settings.embedders_root / "static", settings, ridge=args.ridge,
              max_sentences=args.max_sentences, top_words=args.top_words)
    print(f"wrote {settings.embedders_root / 'static'}: dev cos {m['dev_cos_to_teacher']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
