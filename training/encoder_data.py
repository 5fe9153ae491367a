"""Training pairs for fine-tuning the hotline encoder, with where each came from.

Every source returns a :class:`PairSet`: a loss family (``mnrl`` for
anchor/positive[/hard negative] retrieval pairs, ``cosent`` for scored pairs),
the rows, and a manifest record (path, row count, content hash). Dev data is
never trained on:

- LCQMC validation is left out whole: it is the paraphrase-retrieval dev set
  (``hotline eval search --task lcqmc``).
- The other sts_zh validation sets are split by a stable hash of the pair: four
  fifths train, one fifth is their dev (``sts_dev_pairs``).
- NCP questions are split by document (``training.ncp_data``, the policy-KB dev
  set's split) and only training documents feed the pairs.

The shared data is read from ``settings.shared_data``; without it only the
project's own data (the demo KB's written paraphrases) is used.
"""
from __future__ import annotations

import csv
import random
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from foundation.artifacts import file_hash
from training.paraphrase import rewrite

STS_TRAIN_SETS = ("BQ_valid", "ATEC_valid", "afqmc_dev", "PAWSX_valid")
STS_DEV_SHARE = 5     # one pair in five of each set above is dev
STSB_TRAIN = "STS-B_train"
# Sets whose training pairs are seen this many times in an epoch. PAWS-X pairs two
# sentences of the same words in another order: one pass of its 1,000 sampled pairs
# left e5 where it was (dev-fifth AUC 0.534 vs 0.537); three passes in the recipe
# gave 0.629 (three epochs of PAWS-X alone 0.659; docs/embeddings.md, session 18).
STS_REPEATS = {"PAWSX_valid": 3}
# The project's hand-written rewrites of NCP training questions (session 20).
WRITTEN_NCP_FILES = ("train.csv", "train_heavy.csv")


@dataclass
class PairSet:
    name: str
    loss: str                      # "mnrl" | "cosent"
    rows: list[dict] = field(default_factory=list)
    source: dict = field(default_factory=dict)

    def record(self) -> dict:
        return {"name": self.name, "loss": self.loss, "rows": len(self.rows), **self.source}


def _read_csv(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def is_sts_dev(row: dict) -> bool:
    """Whether an sts_zh pair is in the held-out fifth (never trained on)."""
    key = f"{row['sentence1']}\t{row['sentence2']}"
    return zlib.crc32(key.encode("utf-8")) % STS_DEV_SHARE == 0


def sts_pairs(shared: Path, cap: int, seed: int) -> list[PairSet]:
    """Scored pairs (CoSENT) from the sts_zh training shares and STS-B train."""
    out = []
    for name in (*STS_TRAIN_SETS, STSB_TRAIN):
        path = Path(shared) / "sts_zh" / f"{name}.csv"
        if not path.is_file():
            continue
        rows = _read_csv(path)
        if name != STSB_TRAIN:
            rows = [r for r in rows if not is_sts_dev(r)]
        scale = 5.0 if name == STSB_TRAIN else 1.0
        pairs = [{"sentence1": r["sentence1"], "sentence2": r["sentence2"],
                  "score": float(r["label"]) / scale} for r in rows]
        random.Random(f"{seed}:{name}").shuffle(pairs)
        repeats = STS_REPEATS.get(name, 1)
        out.append(PairSet(f"sts:{name}", "cosent", pairs[:cap] * repeats,
                           {"path": str(path), "available": len(pairs), "repeats": repeats,
                            "sha256": file_hash(path)}))
    return out


def sts_dev_pairs(shared: Path, name: str) -> list[dict]:
    """The dev fifth of one sts_zh validation set (never trained on)."""
    rows = _read_csv(Path(shared) / "sts_zh" / f"{name}.csv")
    return [r for r in rows if is_sts_dev(r)] if name in STS_TRAIN_SETS else rows


def ncp_pairs(shared: Path, cap: int, seed: int, with_answers: bool = False) -> list[PairSet]:
    """Policy questions of the training documents: a written-style rewrite of each
    question → the question (hard negative: another question of the same
    document, which a keyword query confuses most), and optionally question →
    answer (off by default: the product matches questions with questions, and the
    answers are long, which triples a step's cost on CPU)."""
    from training.ncp_data import ncp_split

    path = Path(shared) / "ncp_policy_qa" / "qa_train.csv"
    if not path.is_file():
        return []
    train, _dev = ncp_split(shared)
    by_doc: dict[str, list[dict]] = {}
    for r in train:
        by_doc.setdefault(r["docid"], []).append(r)
    rewrites, answers = [], []
    for r in train:
        rng = random.Random(f"{seed}:ncp:{r['id']}")
        siblings = [s["question"] for s in by_doc[r["docid"]] if s["question"] != r["question"]]
        negative = rng.choice(siblings) if siblings else None
        for style in rng.sample(("colloquial", "phone", "keyword", "typo"), 2):
            anchor = rewrite(r["question"], style, rng)
            if anchor and anchor != r["question"]:
                row = {"anchor": anchor, "positive": r["question"]}
                if negative:
                    row["negative"] = negative
                rewrites.append(row)
        if with_answers and r.get("answer"):
            answers.append({"anchor": r["question"], "positive": r["answer"][:200]})
    random.Random(f"{seed}:ncp").shuffle(rewrites)
    random.Random(f"{seed}:ncp-a").shuffle(answers)
    record = {"path": str(path), "documents": len(by_doc), "questions": len(train),
              "sha256": file_hash(path)}
    out = _by_negative("ncp:rewrite->question", rewrites, cap, record)
    if with_answers:
        out.append(PairSet("ncp:question->answer", "mnrl", answers[:cap], record))
    return out


def ncp_written_pairs(shared: Path, cap: int, seed: int) -> list[PairSet]:
    """The project's hand-written rewrites of training-document questions
    (``training/data/ncp_rewrites/train.csv``, light, and ``train_heavy.csv``,
    reworded as far as the dev set) → the question; hard negative: another
    question of the same document. The files hold references, joined with the
    shared rows here; a reference to a dev row is refused (``resolve_refs``)."""
    from training.ncp_data import DATA, ncp_split, read_rewrites, resolve_refs

    path = Path(shared) / "ncp_policy_qa" / "qa_train.csv"
    files = [DATA / name for name in WRITTEN_NCP_FILES if (DATA / name).is_file()]
    if not path.is_file() or not files:
        return []
    train, _dev = ncp_split(shared)
    by_id = {r["id"]: r for r in train}
    by_doc: dict[str, list[str]] = {}
    for r in train:
        by_doc.setdefault(r["docid"], []).append(r["question"])
    rows = []
    for f in files:
        rewrites = read_rewrites(f)
        for rw, row_id in zip(rewrites, resolve_refs(rewrites, train, f)):
            question = by_id[row_id]["question"]
            siblings = [q for q in by_doc[by_id[row_id]["docid"]] if q != question]
            rng = random.Random(f"{seed}:ncp-written:{row_id}:{rw['style']}")
            rows.append({"anchor": rw["query"], "positive": question,
                         **({"negative": rng.choice(siblings)} if siblings else {})})
    random.Random(f"{seed}:ncp-written").shuffle(rows)
    record = {"path": str(path), "sha256": file_hash(path),
              "written": [{"path": str(f), "sha256": file_hash(f)} for f in files]}
    return _by_negative("ncp:written rewrite->question", rows, cap, record)


def _by_negative(name: str, rows: list[dict], cap: int, record: dict) -> list[PairSet]:
    """Retrieval pairs as two datasets, with and without a hard negative: a
    negative column must be present in every row of a dataset or in none."""
    with_neg = [r for r in rows if "negative" in r]
    without = [r for r in rows if "negative" not in r]
    return [PairSet(f"{name} (same-document negative)", "mnrl", with_neg[:cap], record),
            PairSet(name, "mnrl", without[:cap], record)]


def demo_pairs(cap: int, seed: int, scale: float = 1.0) -> list[PairSet]:
    """The demo KB's written similar questions → their standard question; hard
    negative: the standard question of another entry of the same family (another
    aspect of the same service: 补办 vs 申领, where vs how long)."""
    from kb.demo import generate

    demo = generate(seed=0, scale=scale)
    by_family: dict[str, list[str]] = {}
    for e in demo.entries:
        by_family.setdefault(demo.families.get(e["id"], e["id"]), []).append(e["question"])
    rows = []
    for e in demo.entries:
        if e["status"] != "published":
            continue
        rng = random.Random(f"{seed}:demo:{e['id']}")
        others = [q for q in by_family.get(demo.families.get(e["id"], e["id"]), []) if q != e["question"]]
        if not others or not e["similar_questions"]:
            continue
        rows.append({"anchor": rng.choice(e["similar_questions"]), "positive": e["question"],
                     "negative": rng.choice(others)})
    random.Random(f"{seed}:demo").shuffle(rows)
    return [PairSet("demo:similar->question (same-family negative)", "mnrl", rows[:cap],
                    {"generator": f"kb.demo.generate(seed=0, scale={scale})", "entries": len(demo.entries)})]


def training_pairs(settings, cap: int = 4000, seed: int = 0, sources=("sts", "ncp", "demo"),
                   demo_scale: float = 1.0) -> list[PairSet]:
    shared = Path(settings.shared_data)
    sets: list[PairSet] = []
    if "sts" in sources:
        sets += sts_pairs(shared, cap, seed)
    if "ncp" in sources:
        sets += ncp_pairs(shared, cap, seed)
    if "ncp_written" in sources:
        sets += ncp_written_pairs(shared, cap, seed)
    if "demo" in sources:
        sets += demo_pairs(cap, seed, demo_scale)
    return [s for s in sets if s.rows]
