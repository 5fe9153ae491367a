"""Cold-start routing: with no labelled history, score each department by the
similarity of the request to its name, responsibilities and keywords, plus a
bonus per matched keyword, blended with the project's own written examples
(``classifier/data/coldstart_topics.json``). Also the keyword evidence for
trained models.

The examples are keyed by our own topics, not by any department list: at fit
time each topic goes to the department of the given list its text (name,
keywords, examples) is most similar to, and a request then scores each
department by its nearest examples (mean of the top ``k`` cosines). On the
4,983 labelled real messages with a 15-department list this lifts macro-F1
from 0.680 (list alone) to 0.749, and to 0.847 with self-training on the input
(docs/dispatch.md, "Routing from the department list").
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from classifier.calibration import softmax
from classifier.errors import BadModel
from classifier.features import Idf, TextFeatures, rows_dot
from index.text import normalize
from index.text.wordmatch import WordMatcher

KEYWORD_BONUS = 0.15
SHARPNESS = 20.0  # similarities are small numbers; this spreads them into probabilities
EXAMPLE_SHARPNESS = 40.0
TOPIC_KEYWORD_WEIGHT = 0.2
# A topic under min_topic_score is kept when it scores this share of its
# department's best topic (and half the median topic score; kept_topics).
OWNER_SHARE = 0.35
TOPICS_FILE = Path(__file__).parent / "data" / "coldstart_topics.json"
# Top-1 minus top-2 probability below which a cold-start row goes to review;
# chosen on folds 0-1 of the labelled messages (docs/dispatch.md).
REVIEW_MARGIN = 0.3
# Input IDF and self-training only from a sample this large, and only for departments with this
# many routed rows (fewer is noise, and the head's calibration folds need them). 50, not 200:
# on 50-150-row draws of folds 0-1 self-training still adds 0.018-0.03 macro-F1
# (docs/dispatch.md, session 17); below 50 its gain is within the draws' noise.
SELF_TRAIN_MIN_ROWS = 50
SELF_TRAIN_MIN_PER_DEPARTMENT = 5
SELF_TRAIN_MAX_ROWS = 5_000


def department_text(d: dict) -> str:
    return " ".join([d.get("name", ""), d.get("responsibilities", ""),
                     " ".join(d.get("keywords", []) or []), " ".join(d.get("aliases", []) or [])])


def _norm(s: str) -> str:
    return normalize(s).lower()


@lru_cache(maxsize=8192)
def _norm_keyword(keyword: str) -> str:
    # A department's keywords are the same for every request: normalised once.
    return _norm(keyword)


def matched_keywords(text: str, department: dict, normalized: bool = False) -> list[str]:
    """``normalized``: ``text`` is already ``index.text.normalize``d (``TextFeatures.full``):
    only lower-casing is left, as in :meth:`KeywordMatcher.counts`."""
    norm = text.lower() if normalized else _norm(text)
    return [k for k in department.get("keywords", []) or [] if k and _norm_keyword(k) in norm]


@lru_cache(maxsize=1)
def load_topics(path: str = str(TOPICS_FILE)) -> tuple:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        topics = tuple((t["topic"], tuple(t["keywords"]), tuple(t["examples"]))
                       for t in data["topics"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise BadModel(f"cold-start topics {path} are unreadable ({e}); expected "
                       f"{{'topics': [{{'topic', 'keywords', 'examples'}}]}}") from e
    return topics


class KeywordMatcher:
    """Which keywords of each department occur in a text, in one regex pass
    (``index.text.wordmatch.WordMatcher`` over the normalised, lower-cased
    keywords) instead of a Python loop per department × keyword, which ran at
    ~430 rows/s on a 15-department list of 600 keywords."""

    def __init__(self, departments: list[dict]):
        owners: dict[str, set[int]] = {}
        for j, d in enumerate(departments):
            for k in d.get("keywords", []) or []:
                nk = _norm(k) if k else ""
                if nk:
                    owners.setdefault(nk, set()).add(j)
        self.owners = owners
        self.n = len(departments)
        self.words = WordMatcher(owners)
        self.keyworded = np.zeros(self.n, dtype=bool)   # departments that list a keyword
        for js in owners.values():
            self.keyworded[list(js)] = True

    def counts(self, texts: list[str], normalized: bool = False) -> np.ndarray:
        """``normalized``: the texts are already ``index.text.normalize``d
        (``TextFeatures.full``), so only lower-casing is left to do."""
        out = np.zeros((len(texts), self.n), dtype=np.float64)
        if not self.owners:
            return out
        for i, t in enumerate(texts):
            for k in self.words.found(t.lower() if normalized else _norm(t)):
                for j in self.owners[k]:
                    out[i, j] += 1
        return out


class ColdStartRouter:
    """``fit(texts)`` with a sample of the requests to route (the batch path)
    is transductive: the example similarity weighs n-grams by their rarity in
    the sample and, with ``self_train``, an n-gram head is trained on the
    sample rows the router is surest of (the top ``self_train_share`` by margin
    per department) and averaged with the router. Labels are never used."""

    def __init__(self, departments: list[dict], examples: bool = True, example_weight: float = 0.7,
                 k: int = 3, topics_path: str | None = None, self_train: bool = True,
                 self_train_share: float = 0.5, self_train_weight: float = 0.5,
                 min_topic_score: float = 0.065):
        self.departments = departments
        self.examples = examples
        self.example_weight = example_weight
        self.k = k
        self.topics_path = topics_path
        self.self_train = self_train
        self.self_train_share = self_train_share
        self.self_train_weight = self_train_weight
        self.min_topic_score = min_topic_score

    def fit(self, texts: list[str] | None = None) -> "ColdStartRouter":
        self._fit_list()
        self.example_idf_ = self.example_matrix_ = None
        self.example_rows_, self.example_dept_ = [], np.zeros(0, dtype=int)
        self.head_ = None
        if self.examples:
            idf = None
            if texts and len(texts) >= SELF_TRAIN_MIN_ROWS:   # a few rows give no usable IDF
                idf = Idf(2).fit(TextFeatures(list(texts)).counts)
            self._fit_examples(idf)
        if texts and self.self_train and len(texts) >= SELF_TRAIN_MIN_ROWS:
            self.head_ = self._self_train(TextFeatures(list(texts)))
        return self

    def _fit_list(self) -> None:
        self.labels_ = [d["name"] for d in self.departments]
        prep = TextFeatures([department_text(d) for d in self.departments])
        self.idf_ = Idf(1).fit(prep.counts)
        self.matrix_ = self.idf_.transform(prep.counts)
        self._columns_t = self.matrix_.T.tocsr()   # n-gram column -> departments (rows_dot)
        self.keywords_ = KeywordMatcher(self.departments)
        self.topic_departments_ = {}

    def _self_train(self, prep: TextFeatures):
        from classifier.head import RECIPES, TextHead

        probs = self._router_proba(prep)
        if probs.shape[1] < 2:
            return None     # one department: every row goes to it, nothing to learn
        pred = probs.argmax(1)
        top = -np.sort(-probs, axis=1)
        margin = top[:, 0] - top[:, 1]
        keep = np.zeros(len(pred), dtype=bool)
        for j in np.unique(pred):
            rows = np.flatnonzero(pred == j)
            if len(rows) < SELF_TRAIN_MIN_PER_DEPARTMENT:
                continue     # a department almost nothing goes to gets no head class
            cut = np.quantile(margin[rows], 1 - self.self_train_share)
            keep[rows[margin[rows] >= cut]] = True
        if keep.sum() > SELF_TRAIN_MAX_ROWS:
            # Each department keeps the same share of its surest rows: the fit
            # grows faster than linearly (20k sample, 10k rows: 210 s on one core).
            quota = SELF_TRAIN_MAX_ROWS / keep.sum()
            for j in np.unique(pred[keep]):
                rows = np.flatnonzero(keep & (pred == j))
                rows = rows[np.argsort(-margin[rows], kind="stable")]
                keep[rows[int(np.ceil(len(rows) * quota)):]] = False
        # The written examples join the confident rows (their mapped departments).
        texts = [prep.full[i] for i in np.flatnonzero(keep)] + list(self.example_rows_)
        labels = np.array(self.labels_)[np.concatenate([pred[keep], self.example_dept_])
                                        .astype(int)]
        if len(set(labels)) < 2:
            return None
        # Balanced classes, C=2: the pseudo-labels over-represent the departments
        # the list already favours (folds 0-1: 0.835 -> 0.842 macro-F1).
        return TextHead(**{**RECIPES["department"], "folds": 3, "C": 2.0,
                           "class_weight": "balanced"}).fit(TextFeatures(texts), labels)

    def _fit_examples(self, idf: Idf | None) -> None:
        import scipy.sparse as sp

        topics = load_topics(self.topics_path or str(TOPICS_FILE))
        # A topic goes to the department its whole text (name, keywords,
        # examples) is most similar to, with an IDF over topics and departments
        # together (over the departments alone, 3 short texts, generic
        # characters dominate), plus the share of its examples that name one of
        # the department's keywords. A topic no department of this list does
        # (schools for a utilities list) is left out: kept_topics.
        docs = TextFeatures([f"{n} {' '.join(k)} {' '.join(e)}" for n, k, e in topics])
        depts = TextFeatures([department_text(d) for d in self.departments])
        map_idf = Idf(1).fit(sp.vstack([docs.counts, depts.counts]))
        cos = np.asarray((map_idf.transform(docs.counts) @ map_idf.transform(depts.counts).T)
                         .todense())
        lines_of = [[*examples, " ".join(keywords)] for _, keywords, examples in topics]
        shares = np.array([(self.keywords_.counts(lines) > 0).mean(0) for lines in lines_of])
        shares = credit_bare_departments(shares, cos, self.keywords_.keyworded)
        scores = cos + TOPIC_KEYWORD_WEIGHT * shares
        owner_of = scores.argmax(1)
        kept = kept_topics(scores, self.min_topic_score)
        rows, owner = [], []
        for i, (name, _, _) in enumerate(topics):
            if not kept[i]:
                continue
            j = int(owner_of[i])
            self.topic_departments_[name] = self.labels_[j]
            rows += lines_of[i]
            owner += [j] * len(lines_of[i])
        self.example_rows_ = rows
        self.example_dept_ = np.asarray(owner, dtype=int)
        if not rows:
            return
        # Per department with examples, its example columns padded to one width with
        # the index of an extra -inf column: _example_scores gathers them in one go.
        depts, counts = np.unique(self.example_dept_, return_counts=True)
        table = np.full((len(depts), int(counts.max())), len(rows))
        for row, j in enumerate(depts.tolist()):
            members = np.flatnonzero(self.example_dept_ == j)
            table[row, :len(members)] = members
        self.example_groups_ = (depts, counts, table)
        ex = TextFeatures(rows)
        if idf is None:
            import scipy.sparse as sp
            idf = Idf(1).fit(sp.vstack([ex.counts, prep_counts(self.departments)]))
        self.example_idf_ = idf
        self.example_matrix_ = self.example_idf_.transform(ex.counts).T.tocsr()

    def _list_scores(self, prep: TextFeatures) -> np.ndarray:
        sims = rows_dot(prep.tfidf(self.idf_), self._columns_t, self.idf_.width)
        bonus = self.keywords_.counts(prep.full, normalized=True)
        return sims + KEYWORD_BONUS * np.log1p(bonus)

    def _list_proba(self, prep: TextFeatures) -> np.ndarray:
        return softmax(self._list_scores(prep) * SHARPNESS)

    def _example_scores(self, prep: TextFeatures) -> np.ndarray:
        """Per department, the mean of the request's ``k`` best cosines to its
        examples (0 for a department without any): one gather over a padded
        department × example table instead of a loop over departments."""
        sims = rows_dot(prep.tfidf(self.example_idf_), self.example_matrix_,
                        self.example_idf_.width)
        out = np.zeros((len(prep), len(self.labels_)))
        depts, counts, table = self.example_groups_
        width = table.shape[1]
        padded = np.concatenate([sims, np.full((len(sims), 1), -np.inf)], axis=1)[:, table]
        k = min(self.k, width)
        best = -np.partition(-padded, k - 1, axis=2)[:, :, :k]
        taken = np.minimum(counts, self.k)
        out[:, depts] = np.where(np.isinf(best), 0.0, best).sum(axis=2) / taken
        return out

    def _router_proba(self, prep: TextFeatures) -> np.ndarray:
        p = self._list_proba(prep)
        if self.example_matrix_ is None or len(prep) == 0:
            return p
        q = softmax(self._example_scores(prep) * EXAMPLE_SHARPNESS)
        w = self.example_weight
        return w * q + (1 - w) * p

    def predict_proba(self, prep: TextFeatures) -> np.ndarray:
        p = self._router_proba(prep)
        if self.head_ is None or len(prep) == 0:
            return p
        h = np.zeros_like(p)
        h[:, [self.labels_.index(l) for l in self.head_.labels_]] = self.head_.predict_proba(prep)
        w = self.self_train_weight
        return w * h + (1 - w) * p

    # ---------------------------------------------------------------- persistence
    def save(self, directory: Path) -> None:
        """The fitted state that depends on the sample (its IDF, the
        self-trained head); the rest is rebuilt from the list on load."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        if self.example_idf_ is not None:
            self.example_idf_.save(directory, prefix="example_idf")
        if self.head_ is not None:
            (directory / "head").mkdir(exist_ok=True)
            self.head_.save(directory / "head")
        state = {k: getattr(self, k) for k in ("examples", "example_weight", "k", "self_train",
                                               "self_train_share", "self_train_weight",
                                               "min_topic_score")}
        (directory / "coldstart.json").write_text(json.dumps(state), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path, departments: list[dict]) -> "ColdStartRouter":
        from classifier.head import TextHead

        directory = Path(directory)
        try:
            state = json.loads((directory / "coldstart.json").read_text(encoding="utf-8"))
            self = cls(departments, **state)
            self._fit_list()
            self.example_idf_ = self.example_matrix_ = self.head_ = None
            self.example_rows_, self.example_dept_ = [], np.zeros(0, dtype=int)
            if self.examples:
                idf = None
                if (directory / "example_idf.npy").is_file():
                    idf = Idf.load(directory, prefix="example_idf")
                self._fit_examples(idf)
            if (directory / "head").is_dir():
                self.head_ = TextHead.load(directory / "head")
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise BadModel(f"cold-start router {directory} is incomplete or corrupt: {e}") from None
        unknown = set(self.head_.labels_ if self.head_ else ()) - set(self.labels_)
        if unknown:
            raise BadModel(f"cold-start router {directory} routes to {sorted(unknown)}, "
                           f"which the department list lacks")
        return self

    def needs_review(self, probs: np.ndarray, margin: float = REVIEW_MARGIN) -> np.ndarray:
        """Rows whose best department does not clearly beat the runner-up."""
        if probs.shape[1] < 2:
            return np.zeros(len(probs), dtype=bool)
        top = -np.sort(-probs, axis=1)
        return (top[:, 0] - top[:, 1]) < margin


def kept_topics(scores: np.ndarray, min_score: float) -> np.ndarray:
    """Which topics (rows of ``scores``, topic x department) some department of
    the list does. A terse list (names, a sentence, a few words each) gives every
    topic lower cosines than a wordy one, so a topic under ``min_score`` is still
    kept when it scores half the list's median topic score and at least
    OWNER_SHARE of its department's best topic: on held-out messages, the shared
    taxonomy as names and a sentence went from 0.53 to 0.85 macro-F1, as level-2
    keywords only from 0.77 to 0.85 (docs/dispatch.md, "Terse lists"). The share keeps a small list from
    taking topics none of its departments does (hospitals for a water company)."""
    best = scores.max(1)
    of_owner = best / np.maximum(scores.max(0)[scores.argmax(1)], 1e-12)
    terse = (best >= 0.5 * np.median(best)) & (of_owner >= OWNER_SHARE) & (best > 0)
    return (best >= min_score) | terse


def credit_bare_departments(shares: np.ndarray, cos: np.ndarray,
                            keyworded: np.ndarray) -> np.ndarray:
    """The keyword shares of the topic mapping (topic x department: the share of
    a topic's examples naming one of the department's keywords) with the
    departments that list no keywords credited, in a list where others do. A
    centre that gave keywords to some departments only would otherwise see the
    rest lose their topics to a keyworded neighbour (on the demo's 53
    departments, emptying one department's keywords at a time moved 18 of the
    27 topics away from their department; now 8). A bare department competes
    on similarity alone: it is credited with the best share any keyworded
    department has for the topic. A topic it wins is credited with the share a
    keyworded winner typically has (the median over topics), so it clears the
    floor where a keyworded owner would (docs/dispatch.md, "Departments without
    keywords"). A list all with or all without keywords is left as it is."""
    bare = ~np.asarray(keyworded, dtype=bool)
    if not bare.any() or bare.all():
        return shares
    shares = np.array(shares, dtype=np.float64)
    best = shares[:, ~bare].max(1)
    shares[:, bare] = best[:, None]
    owner = (cos + TOPIC_KEYWORD_WEIGHT * shares).argmax(1)
    won = np.flatnonzero(bare[owner])   # raising the winner's own cell keeps it the winner
    shares[won, owner[won]] = np.maximum(np.median(best), best[won])
    return shares


def prep_counts(departments: list[dict]):
    return TextFeatures([department_text(d) for d in departments]).counts
