"""`IncidentLinker`: assigns reports, streamed in time order, to incidents online.

For each report: candidate incidents are the open ones of its region (last
report within the time window of the problem classes involved) that share a
blocking key with it (a place key, a problem class, or a topic bigram); each is
scored by a logistic pair model over ``features.FEATURES``; the report joins the
best one whose probability reaches ``threshold``, else it opens an incident.

``fit(reports, gold)`` learns everything from a labelled dev set: the pair
weights (logistic regression on (report, incident-so-far) pairs replayed from
the gold grouping), the per-class windows (from the gaps seen inside gold
incidents), and the threshold (grid search for the best B-cubed F1).
"""
from __future__ import annotations

import heapq
import math
from operator import itemgetter, mul
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from foundation.errors import ArtifactError, InvalidInput
from incidents.features import FEATURES, Incident, pair_features
from incidents.reports import Prepared, Report, prepare

KIND = "incident-linker"
FORMAT_VERSION = 1
PARAMS = "params.json"
DEFAULT_DIR = Path(__file__).with_name("data") / "default"
# Replayed pairs for fitting reach this far back: wider than any window, so the
# model sees (and learns to refuse) old incidents.
_FIT_REACH_HOURS = 24.0 * 14
# Windows a class may get (hours): two days, a week, two weeks. Coarse on purpose:
# a dev set shows only some of the gaps a class can have.
_LADDER = (48.0, 168.0, 336.0)
_PLACE_WEIGHT = 4   # blocking only (which candidates are scored), not the pair model


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z > -60 else 0.0


def _block_keys(r: Prepared) -> list[tuple[str, int]]:
    """(key, weight): a shared place counts for more than a shared class or bigram,
    so that among many open incidents of one problem in a busy district (a day of
    停水 calls) the ones at the report's place are among the scored few.
    Places and classes are sets: sorted, so that the order candidates are first
    hit in (which breaks ties in ``_Stream.candidates``) does not follow
    PYTHONHASHSEED; the topic's bigrams keep the text's order."""
    keys = [("p:" + k, _PLACE_WEIGHT) for k in sorted(r.keys)]
    keys += [("c:" + c, 1) for c in sorted(r.classes)]
    keys += [("t:" + g, 1) for g in r.topic if len(g) == 2]
    return keys


class _Stream:
    """Open incidents by region, with an inverted index of blocking keys."""

    def __init__(self, reach_hours: float, max_candidates: int):
        self.reach = reach_hours
        self.max_candidates = max_candidates
        # region -> blocking key -> incidents: one lookup of the region per report,
        # then plain string keys (a (region, key) tuple is built and hashed per key)
        self.index: dict[str, dict[str, list[Incident]]] = {}
        self.incidents: list[Incident] = []

    def candidates(self, r: Prepared, keys=None) -> list[Incident]:
        """The open incidents sharing most blocking keys with ``r`` (``keys``:
        ``_block_keys(r)``, when the caller has it), most first; ties in order
        of first hit (as ``Counter.most_common``)."""
        # counted per profile object, not per id: an online index may hold a stale
        # profile of a rebuilt incident under the same id
        hits: dict = {}
        get = hits.get
        oldest = r.time - self.reach
        index = self.index.get(r.region)
        if index is None:
            return []
        for key, weight in (_block_keys(r) if keys is None else keys):
            bucket = index.get(key)
            if not bucket:
                continue
            if bucket[0].last_time < oldest:  # time only moves on: prune for good
                bucket[:] = [inc for inc in bucket if inc.last_time >= oldest]
            for inc in bucket:
                if inc.last_time >= oldest:
                    hits[inc] = get(inc, 0) + weight
        # what Counter.most_common does, without its per-key overhead
        top = heapq.nlargest(self.max_candidates, hits.items(), key=itemgetter(1))
        return [inc for inc, _ in top]

    def open(self, r: Prepared, index: int, id_: int | None = None, keys=None) -> Incident:
        """A new incident of ``r``; numbered in order unless ``id_`` is given (the
        online index uses the store's incident ids)."""
        inc = Incident(len(self.incidents) if id_ is None else id_, r, index)
        if id_ is None:   # numbering; a long-lived online index keeps no list of all
            self.incidents.append(inc)
        self._index(inc, r, keys)
        return inc

    def join(self, inc: Incident, r: Prepared, index: int, keys=None) -> None:
        inc.add(r, index)
        self._index(inc, r, keys)

    def _index(self, inc: Incident, r: Prepared, keys=None) -> None:
        index = self.index.get(r.region)
        if index is None:
            index = self.index[r.region] = {}
        for key, _ in (_block_keys(r) if keys is None else keys):
            bucket = index.get(key)
            if bucket is None:
                index[key] = [inc]
            elif not bucket or bucket[-1] is not inc:   # already last: nothing to move
                if inc in bucket:
                    bucket.remove(inc)  # keep buckets ordered by last report
                bucket.append(inc)


class IncidentLinker:
    def __init__(self, window_hours: float = 48.0, type_windows: dict | None = None,
                 threshold: float = 0.5, weights: dict | None = None,
                 max_candidates: int = 8, C: float = 10.0):
        self.window_hours = window_hours
        self.type_windows = type_windows
        self.threshold = threshold
        self.weights = weights
        self.max_candidates = max_candidates
        # Inverse regularisation of the pair model: 10 had the best mean B-cubed F1
        # over 6 region splits of dev.csv among 0.1, 0.3, 1, 3, 10, 30 (0.903; 1: 0.893).
        self.C = C

    # -- the learned state, or the constructor's values before fit/load
    def _params(self):
        weights = getattr(self, "weights_", None) or self.weights
        if weights is None:
            raise InvalidInput("IncidentLinker has no pair weights: call fit(), load() "
                               "or pass weights=")
        w = [float(weights.get(name, 0.0)) for name in FEATURES]
        windows = getattr(self, "windows_", None) or dict(self.type_windows or {})
        default = getattr(self, "window_", None) or self.window_hours
        threshold = getattr(self, "threshold_", None)
        return w, windows, default, self.threshold if threshold is None else threshold

    def _window(self, windows, default, r: Prepared, inc: Incident) -> float:
        classes = set(r.classes) | set(inc.classes)
        return max((windows.get(c, default) for c in classes), default=default)

    # -- linking
    def prepare(self, reports: Sequence[Report], progress=None) -> list[Prepared]:
        out = []
        for r in reports:
            out.append(prepare(r))
            if progress is not None:
                progress.update(1)
        return out

    def link(self, reports: Sequence[Report], progress=None) -> list[int]:
        """Incident number of each report, in input order (numbered 0, 1, ... by
        each incident's first report in time)."""
        return self.link_prepared(self.prepare(reports, progress))

    def link_prepared(self, prepared: Sequence[Prepared], threshold: float | None = None,
                      progress=None) -> list[int]:
        order = sorted(range(len(prepared)), key=lambda k: prepared[k].time)
        labels = [0] * len(prepared)
        for i, label in self.link_stream(((i, prepared[i]) for i in order), threshold, progress):
            labels[i] = label
        return labels

    def link_stream(self, items: Iterable[tuple[int, Prepared]], threshold: float | None = None,
                    progress=None) -> Iterator[tuple[int, int]]:
        """Online linking: ``items`` are (index, prepared report) in time order (the
        caller sorts); yields (index, incident number) as each report is placed, so
        preparing and linking can overlap (`hotline incidents --workers`)."""
        w, windows, default, thr = self._params()
        if threshold is not None:
            thr = threshold
        reach = max([default, *windows.values()])
        stream = _Stream(reach, self.max_candidates)
        last = -math.inf
        for i, r in items:
            if r.time < last:
                raise InvalidInput(f"report {i} is out of time order: link_stream needs "
                                   "reports sorted by time")
            last = r.time
            keys = _block_keys(r)
            best, _ = self.best(r, stream.candidates(r, keys), (w, windows, default, thr))
            if best is None:
                best = stream.open(r, i, keys=keys)
            else:
                stream.join(best, r, i, keys=keys)
            if progress is not None:
                progress.update(1)
            yield i, best.id

    def best(self, r: Prepared, candidates: Iterable[Incident], params=None,
             skip=None) -> tuple[Incident | None, float]:
        """The candidate ``r`` joins and its probability, or (None, best probability
        below the threshold). One decision for the batch stream and the online index
        (``incidents.online``); ``skip(inc)`` drops a candidate (a "not the same" mark,
        a closed incident). ``params``: ``_params()``, computed once by the caller."""
        w, windows, default, thr = params or self._params()
        best, best_p, below = None, thr, 0.0
        # _window(r, inc) is the max over the union of classes: max of the
        # report's part and the incident's part (the same value, found faster)
        wget = windows.get
        mine = max([wget(c, default) for c in r.classes], default=None)
        for inc in candidates:
            if skip is not None and skip(inc):
                continue
            # the window counts from the incident's first report: a problem
            # that comes back after it is a new incident
            theirs = max([wget(c, default) for c in inc.classes], default=mine)
            window = default if theirs is None else theirs if mine is None else max(mine, theirs)
            if r.time - inc.first_time > window:
                continue
            x = pair_features(r, inc, window)
            p = _sigmoid(sum(map(mul, w, x)))   # the same sum, in the same order
            if p >= best_p:
                best, best_p = inc, p
            else:
                below = max(below, p)
        return (best, best_p) if best is not None else (None, below)

    def stream(self) -> _Stream:
        """An empty index of open incidents reaching back the longest window."""
        _, windows, default, _ = self._params()
        return _Stream(max([default, *windows.values()]), self.max_candidates)

    def window_of(self, classes) -> float | None:
        """The window (hours) of a report's problem classes; None when it names none
        (the default window then applies)."""
        _, windows, default, _ = self._params()
        return max((windows.get(c, default) for c in classes), default=None)

    def with_windows(self, hours: dict[str, float] | None) -> "IncidentLinker":
        """A copy whose windows are ``hours`` (``incidents.windows.window_hours``:
        problem class -> hours, "default" for classes without their own and for
        reports naming none) over the fitted ones; itself when ``hours`` is empty."""
        if not hours:
            return self
        import copy

        _, windows, default, _ = self._params()
        linker = copy.copy(self)
        linker.windows_ = {**windows, **{c: h for c, h in hours.items() if c != "default"}}
        linker.window_ = hours.get("default", default)
        return linker

    # -- fitting
    def fit(self, reports: Sequence[Report], gold: Sequence, prepared=None) -> "IncidentLinker":
        import numpy as np
        from sklearn.linear_model import LogisticRegression

        from incidents.metrics import bcubed

        if len(reports) != len(gold):
            raise InvalidInput(f"{len(reports)} reports but {len(gold)} gold labels")
        prepared = prepared if prepared is not None else self.prepare(reports)
        self.window_, self.windows_ = self._fit_windows(self._gold_gaps(prepared, gold))
        X, y = self._replay(prepared, gold)
        if len(set(y)) < 2:
            raise InvalidInput("the dev set gives no linked pairs to learn from "
                               "(every gold incident has one report)")
        model = LogisticRegression(C=self.C, max_iter=5000)
        model.fit(np.asarray(X)[:, 1:], np.asarray(y))
        self.weights_ = {"bias": float(model.intercept_[0])}
        self.weights_.update({n: float(c) for n, c in zip(FEATURES[1:], model.coef_[0])})
        self.threshold_ = None
        grid = [round(t, 3) for t in np.arange(0.05, 0.951, 0.025)]
        scores = [bcubed(self.link_prepared(prepared, threshold=t), gold)["f1"] for t in grid]
        best = max(scores)
        plateau = [t for t, s in zip(grid, scores) if s >= best - 1e-9]
        self.threshold_ = plateau[len(plateau) // 2]   # the middle of the best plateau
        self.fit_info_ = {"reports": len(prepared), "incidents": len(set(gold)),
                          "pairs": len(y), "positive_pairs": int(sum(y)),
                          "dev_bcubed_f1": round(best, 4),
                          "threshold_grid": dict(zip(map(str, grid), map(lambda s: round(s, 4), scores)))}
        return self

    @staticmethod
    def _gold_gaps(prepared, gold):
        """(classes of the incident so far, hours since its first report) per report
        that joins a gold incident."""
        first: dict = {}
        classes: dict = {}
        gaps = []
        for i in sorted(range(len(prepared)), key=lambda k: prepared[k].time):
            r, g = prepared[i], gold[i]
            if g in first:
                classes[g] |= r.classes
                gaps.append((set(classes[g]), r.time - first[g]))
            else:
                first[g], classes[g] = r.time, set(r.classes)
        return gaps

    def _replay(self, prepared, gold):
        """(report, gold incident so far) pairs in time order, as the linker sees them."""
        stream = _Stream(_FIT_REACH_HOURS, self.max_candidates * 2)
        by_gold: dict = {}
        X, y = [], []
        windows, default = self.windows_, self.window_
        for i in sorted(range(len(prepared)), key=lambda k: prepared[k].time):
            r, g = prepared[i], gold[i]
            mine = by_gold.get(g)
            cands = stream.candidates(r)
            if mine is not None and mine not in cands:
                cands.append(mine)   # learn from it even when blocking missed it
            for inc in cands:
                if inc.region != r.region:
                    continue
                X.append(pair_features(r, inc, self._window(windows, default, r, inc)))
                y.append(1 if inc is mine else 0)
            if mine is None:
                by_gold[g] = stream.open(r, i)
            else:
                stream.join(mine, r, i)
        return X, y

    @staticmethod
    def _fit_windows(gaps):
        """Per problem class: the shortest window of _LADDER that holds every gap
        (from the incident's first report) seen inside gold incidents of that class,
        for classes seen 3 times or more; the default holds every gap."""
        def fit(hours):
            return next((w for w in _LADDER if w >= hours), _LADDER[-1])

        default = fit(max((g for _, g in gaps), default=48.0))
        per: dict[str, list[float]] = {}
        for classes, gap in gaps:
            for c in classes:
                per.setdefault(c, []).append(gap)
        return default, {c: fit(max(v)) for c, v in sorted(per.items()) if len(v) >= 3}

    # -- persistence
    def params(self) -> dict:
        w, windows, default, thr = self._params()
        return {"weights": dict(zip(FEATURES, w)), "windows": windows, "window": default,
                "threshold": thr, "max_candidates": self.max_candidates,
                "features": list(FEATURES)}

    def save(self, directory: Path, **manifest_fields) -> Path:
        from foundation.artifacts import building, write_json_atomic, write_manifest

        directory = Path(directory)
        with building(directory) as tmp:
            write_json_atomic(tmp / PARAMS, self.params())
            write_manifest(tmp, KIND, FORMAT_VERSION, fit=getattr(self, "fit_info_", None),
                           **manifest_fields)
        return directory

    @classmethod
    def load(cls, directory: Path | None = None) -> "IncidentLinker":
        import json

        from foundation.artifacts import read_manifest

        directory = Path(directory) if directory else DEFAULT_DIR
        read_manifest(directory, KIND, FORMAT_VERSION)
        try:
            p = json.loads((directory / PARAMS).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ArtifactError(f"{directory / PARAMS}: cannot read the parameters: {exc}") from None
        if p.get("features") != list(FEATURES):
            raise ArtifactError(f"{directory} was fitted with features {p.get('features')}, "
                                f"this software computes {list(FEATURES)}; refit it")
        linker = cls(window_hours=p["window"], type_windows=p["windows"],
                     threshold=p["threshold"], weights=p["weights"],
                     max_candidates=p.get("max_candidates", 12))
        linker.weights_, linker.windows_ = dict(p["weights"]), dict(p["windows"])
        linker.window_, linker.threshold_ = float(p["window"]), float(p["threshold"])
        return linker
