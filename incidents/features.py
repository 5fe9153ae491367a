"""An open incident's profile and the features of (report, incident) pairs.

The linker scores a new report against an incident as it stands at that
moment (its places, problem classes, n-gram centroid, last report), and the
pair model is fitted on exactly such pairs replayed from the dev set, so what
it learns is what it is asked.
"""
from __future__ import annotations

import math
from collections import Counter

from incidents.places import place_similarity
from incidents.problems import cosine
from incidents.reports import Prepared

FEATURES = (
    "bias", "place_exact", "place_sim", "place_both", "place_one", "topic_centroid",
    "topic_max", "class_same", "family_same", "class_conflict", "class_none",
    "gap_last_frac", "gap_first_frac", "log_size", "place_x_topic", "place_x_family", "place_differ_x_topic",
)
_RECENT = 3          # members whose own n-grams are compared (besides the centroid)
_MAX_PLACES = 16


class Incident:
    __slots__ = ("id", "region", "members", "first_time", "last_time", "places", "keys",
                 "classes", "families", "topic_sum", "recent", "reports_with",
                 "topic_norm", "_sq")

    def __init__(self, id_: int, report: Prepared, index: int):
        self.id = id_
        self.region = report.region
        self.members: list[int] = []
        self.first_time = report.time
        self.last_time = report.time
        self.places: list = []
        self.keys: set[str] = set()
        self.classes: Counter = Counter()     # reports naming each class
        self.families: Counter = Counter()
        self.reports_with = 0                # reports naming any class
        self.topic_sum: dict[str, float] = {}
        self._sq = 0.0
        self.recent: list[dict[str, float]] = []
        self.add(report, index)

    def add(self, report: Prepared, index: int) -> None:
        self.members.append(index)
        self.last_time = max(self.last_time, report.time)
        for p in report.places:
            if p.key not in self.keys and len(self.places) < _MAX_PLACES:
                self.keys.add(p.key)
                self.places.append(p)
        self.classes.update(report.classes)
        self.families.update(report.families)
        self.reports_with += bool(report.classes)
        s, sq = self.topic_sum, self._sq
        for g, v in report.topic.items():
            old = s.get(g, 0.0)
            s[g] = old + v
            sq += (old + v) ** 2 - old * old   # the norm, updated in O(len(report))
        self._sq = sq
        self.topic_norm = math.sqrt(sq) or 1.0
        self.recent.append(report.topic)
        if len(self.recent) > _RECENT:
            self.recent.pop(0)

    def centroid_cosine(self, topic: dict[str, float]) -> float:
        return cosine(topic, self.topic_sum) / self.topic_norm


def pair_features(r: Prepared, inc: Incident, window_hours: float) -> list[float]:
    """The feature vector (``FEATURES`` order) of report ``r`` against ``inc``;
    gaps are fractions of the window of the classes involved (two days apart is
    long for a power cut, ordinary for a week of square dancing)."""
    place_exact = 1.0 if r.keys & inc.keys else 0.0
    place_sim = place_exact
    rp, ip = r.places, inc.places
    if not place_exact and rp and ip:
        place_sim = max([place_similarity(a, b) for a in rp for b in ip])
    both = 1.0 if (rp and ip) else 0.0
    one = 1.0 if (bool(rp) != bool(ip)) else 0.0
    topic = r.topic
    t_cent = inc.centroid_cosine(topic)
    t_max = max([cosine(topic, t) for t in inc.recent], default=0.0)
    # Shares of the incident's reports (that name a class at all) naming the
    # report's class / family: a big incident collects stray classes (公交站 in
    # a burst-main call) that should not attract every bus complaint.
    n = inc.reports_with
    if n:   # .get, not Counter's [] (a missing key calls Counter.__missing__)
        cget, fget = inc.classes.get, inc.families.get
        class_same = max([cget(c, 0) for c in r.classes], default=0) / n
        family_same = max([fget(f, 0) for f in r.families], default=0) / n
    else:
        class_same = family_same = 0.0
    conflict = 1.0 if (r.families and n and not family_same) else 0.0
    none = 0.0 if r.classes else 1.0
    gap_last = max(0.0, r.time - inc.last_time) / window_hours
    gap_first = max(0.0, r.time - inc.first_time) / window_hours
    return [1.0, place_exact, place_sim, both, one, t_cent, t_max, class_same, family_same,
            conflict, none, gap_last, gap_first, math.log1p(len(inc.members)),
            place_sim * t_max, place_sim * family_same,
            # both name a place, the places differ, the words agree: 停水 at 人民路 is
            # not the 停水 at 幸福小区 (without it the model scored that pair 0.68)
            both * (1.0 - place_sim) * t_max]
