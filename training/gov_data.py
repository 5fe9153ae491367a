"""The labelled data the ``gov`` recipe trains on, read from where it lives.

Real messages stay in ``settings.shared_data`` (not ours to redistribute): the
project's labels are stored by ``msg_id`` only (``training/data/labels``) and
joined with the text here, at training time. The phone-style calls are the
project's own writing and ship in ``training/data``. Every source is reported
with its path, row count and content hash for the model manifest.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from pathlib import Path

from classifier.errors import BadTrainingData
from foundation.artifacts import file_hash
from training.train_classifier import read_rows

DATA = Path(__file__).resolve().parent / "data"
GOV_LABELS = DATA / "labels" / "gov_request_types.csv"
# A second sample of 1,600 messages read with the same guideline, kept for evaluation
# only: training on it changed no dev figure for the better (docs/classifier.md).
GOV_EVAL_LABELS = DATA / "labels" / "gov_request_types_eval.csv"
PHONE_CALLS = DATA / "phone_calls.csv"
TYPES = ("consult", "complaint", "fault", "other")


@dataclass
class Rows:
    """Training rows (``title``, ``detail``, label columns) and where they came from."""

    rows: list[dict] = field(default_factory=list)
    sources: list[dict] = field(default_factory=list)

    def add(self, name: str, path: Path, rows: list[dict], note: str = "") -> None:
        self.rows.extend(rows)
        self.sources.append({"name": name, "path": str(path), "rows": len(rows),
                             "sha256": file_hash(path), **({"note": note} if note else {})})


def gov_dir(settings) -> Path:
    path = Path(settings.shared_data) / "gov_messages"
    if not (path / "messages_train.csv").is_file():
        raise BadTrainingData(
            f"the shared gov data is not at {path} (setting shared_data / --shared-data)")
    return path


def fold_of(key: str, folds: int = 5) -> int:
    """A stable fold number by id or text (the same on every machine and run)."""
    return zlib.crc32(key.encode("utf-8")) % folds


def dev_fold(key: str, share: int = 5) -> bool:
    """A stable 1-in-``share`` split by id: fold 0 of :func:`fold_of`."""
    return fold_of(key, share) == 0


def _joined(settings, labels: Path, keep) -> list[dict]:
    """Pass-1 labels of ``labels`` for which ``keep(msg_id)`` holds, joined with their
    messages: ``title``, ``detail``, ``type``, ``clarity``, ``alt``, ``src``, ``msg_id``."""
    texts = {r["msg_id"]: r for r in read_rows(gov_dir(settings) / "unlabeled_messages.csv")}
    out = []
    for lab in read_rows(labels):
        if lab["pass"] != "1" or lab["msg_id"] not in texts or not keep(lab["msg_id"]):
            continue
        msg = texts[lab["msg_id"]]
        out.append({"title": msg["title"], "detail": msg["detail"], "type": lab["type"],
                    "clarity": lab["clarity"], "alt": lab["alt"], "src": lab["src"],
                    "msg_id": lab["msg_id"]})
    return out


def labelled_messages(settings, split: str = "all") -> list[dict]:
    """The project's pass-1 training labels joined with their messages.
    ``split``: all | train | dev (a stable fifth of the ids)."""
    return _joined(settings, GOV_LABELS,
                   lambda msg_id: split == "all" or dev_fold(msg_id) == (split == "dev"))


def eval_messages(settings) -> list[dict]:
    """The evaluation-only sample (``GOV_EVAL_LABELS``) joined with its messages;
    nothing trains on it."""
    return _joined(settings, GOV_EVAL_LABELS, lambda msg_id: True)


def typed_dev(settings) -> list[dict]:
    return read_rows(gov_dir(settings) / "typed_dev.csv")


def phone_calls(split: str = "all") -> list[dict]:
    """The project's phone-style utterances as rows: the utterance is the title,
    the body is empty (how a phone call reaches the batch CLI)."""
    return [{"title": r["text"], "detail": "", "type": r["type"], "clarity": "clear", "alt": "",
             "group": r["group"], "style": r["style"], "split": r["split"]}
            for r in read_rows(PHONE_CALLS) if split == "all" or r["split"] == split]


def type_rows(settings, split: str = "all", with_typed_dev: bool = True) -> Rows:
    """Everything the type head learns from (``split`` as in :func:`labelled_messages`
    and the phone corpus's own split; typed_dev unless ``with_typed_dev`` is off)."""
    out = Rows()
    gov = gov_dir(settings)
    if with_typed_dev:
        out.add("typed_dev", gov / "typed_dev.csv", typed_dev(settings),
                "400 hand-labelled real messages (shared data)")
    out.add("gov_request_types", GOV_LABELS, labelled_messages(settings, split),
            f"project labels by msg_id joined with unlabeled_messages.csv ({split})")
    out.add("phone_calls", PHONE_CALLS, phone_calls(split),
            f"project-written phone-style utterances ({split})")
    return out


def department_rows(settings, exclude_titles: set[str] = frozenset(),
                    exclude_fold: tuple[int, int] | None = None) -> Rows:
    """messages_train (title, body, domain) plus titles_train rows whose title is
    not already a message title (or excluded: an evaluation's held-out titles).
    ``exclude_fold=(k, n)`` leaves out the messages in fold ``k`` of ``n`` by text
    (:func:`fold_of`), untitled ones included."""
    from index.text import normalize

    gov = gov_dir(settings)
    out = Rows()
    msgs = [{"title": r["title"], "detail": r["detail"], "department": r["label_l1"]}
            for r in read_rows(gov / "messages_train.csv")
            if normalize(r["title"]) not in exclude_titles
            and (exclude_fold is None
                 or fold_of(r["title"] + r["detail"], exclude_fold[1]) != exclude_fold[0])]
    out.add("messages_train", gov / "messages_train.csv", msgs, "title + body, label_l1")
    seen = {normalize(r["title"]) for r in msgs} | set(exclude_titles)
    titles = [{"title": r["title"], "detail": "", "department": r["label_l1"]}
              for r in read_rows(gov / "titles_train.csv") if normalize(r["title"]) not in seen]
    out.add("titles_train", gov / "titles_train.csv", titles, "titles without bodies, label_l1")
    return out
