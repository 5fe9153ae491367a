"""The NCP policy Q&A data (``shared_data/ncp_policy_qa/qa_train.csv``: id,
docid, question, answer) split by document, and the project's written rewrites
of dev questions (``training/data/ncp_rewrites/dev.csv``: id, style, query).

The split is by ``docid`` (a stable hash, the same on every machine and run):
about a fifth of the documents are *dev* and never trained on. A training row
whose question text (normalised) equals a dev question's is dropped as well,
so no dev question is seen in training under another document id.

The shared rows are not ours to redistribute: the repository stores rewrites
keyed by a reference to the row (the first ``ID_REF_DIGITS`` hex digits of its
``id``; the whole 32-digit id is itself a cell of the shared file) and joins them
with the KB here (``resolve_refs``).
"""
from __future__ import annotations

import csv
import hashlib
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "ncp_rewrites"
REWRITES_DEV = DATA / "dev.csv"
REWRITES_DEV_LIGHT = DATA / "dev_light.csv"
QA_FILE = Path("ncp_policy_qa") / "qa_train.csv"
SPLIT_SALT = "ncp-split-20261206"
DEV_PERCENT = 20
STYLES = ("colloquial", "phone", "keyword", "traditional", "typo")
REWRITE_SAMPLE_SEED = 20261206
ID_REF_DIGITS = 16      # 64 bits: unique among the 4,000 ids, checked on every join


def qa_path(shared_data) -> Path:
    path = Path(shared_data) / QA_FILE
    if not path.is_file():
        raise FileNotFoundError(f"the NCP policy Q&A file is not at {path} "
                                f"(setting shared_data / --shared-data)")
    return path


def read_qa(shared_data) -> list[dict]:
    with open(qa_path(shared_data), encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def is_dev_doc(docid: str) -> bool:
    """A stable ~``DEV_PERCENT`` % of documents, by a salted hash of the docid."""
    h = int(hashlib.sha256(f"{SPLIT_SALT}:{docid}".encode("utf-8")).hexdigest(), 16)
    return h % 100 < DEV_PERCENT


def _key(text: str) -> str:
    # punctuation, spaces and width do not make a question different
    import unicodedata
    t = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in t if ch.isalnum())


def ncp_split(shared_data) -> tuple[list[dict], list[dict]]:
    """(train_rows, dev_rows) of the NCP file: dev = rows of dev documents;
    train = rows of the other documents whose question does not duplicate a dev
    question's text. Rows are the file's dicts (id, docid, question, answer)."""
    rows = read_qa(shared_data)
    dev = [r for r in rows if is_dev_doc(r["docid"])]
    dev_q = {_key(r["question"]) for r in dev}
    train = [r for r in rows if not is_dev_doc(r["docid"]) and _key(r["question"]) not in dev_q]
    return train, dev


def rewrite_sample(dev_rows: list[dict], n: int) -> list[dict]:
    """The dev rows chosen for written rewrites: a seeded order of the dev rows
    (by a hash of id, so it does not depend on file order), the first ``n``."""
    def order(r):
        return hashlib.sha256(f"{REWRITE_SAMPLE_SEED}:{r['id']}".encode()).hexdigest()
    return sorted(dev_rows, key=order)[:n]


def id_ref(row_id: str) -> str:
    """What a rewrite file stores for an NCP row: its id's first digits."""
    return row_id[:ID_REF_DIGITS]


def resolve_refs(rewrites: list[dict], qa_rows: list[dict], path=REWRITES_DEV) -> list[str]:
    """The full NCP id each rewrite refers to, in order; a reference that names
    no row, or more than one, is an error naming the file line."""
    by_ref: dict[str, list[str]] = {}
    for r in qa_rows:
        by_ref.setdefault(id_ref(r["id"]), []).append(r["id"])
    out = []
    for i, rw in enumerate(rewrites, 2):
        found = by_ref.get(rw["id"], [])
        if len(found) != 1:
            raise ValueError(f"{path}:{i}: id {rw['id']!r} names {len(found)} rows of the NCP "
                             f"file, expected exactly one")
        out.append(found[0])
    return out


def read_rewrites(path: Path = REWRITES_DEV) -> list[dict]:
    """The written rewrites: dicts with id (a reference, ``id_ref``), style,
    query (checked)."""
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for i, r in enumerate(rows, 2):
        if r.get("style") not in STYLES:
            raise ValueError(f"{path}:{i}: style {r.get('style')!r}, expected one of {STYLES}")
        if not (r.get("id") or "").strip() or not (r.get("query") or "").strip():
            raise ValueError(f"{path}:{i}: empty id or query")
    return rows
