"""The model side of a batch run: load the bundle once per process, turn a
chunk of texts into prediction columns, and isolate rows the model rejects."""
from __future__ import annotations

import importlib
import json
import os
import sys
from dataclasses import dataclass

from foundation.errors import HotlineError, InvalidInput

# The model's columns; then dispatch's: pred_urgency (rules over the text) and
# the lead and co-handling departments (dispatch.codepts; co semicolon-joined),
# appended after the earlier layout so its readers find their columns where they were.
MODEL_COLUMNS = ("pred_type", "pred_type_conf", "pred_department", "pred_department_conf",
                 "pred_needs_review", "pred_department_top3")
DISPATCH_COLUMNS = ("pred_urgency", "pred_lead_department", "pred_co_departments")
PRED_COLUMNS = MODEL_COLUMNS + DISPATCH_COLUMNS


@dataclass(frozen=True)
class ModelSpec:
    """Everything a worker needs to load the model itself (picklable)."""

    model_dir: str
    home: str | None = None
    threads: int = 0
    loader: str = "classifier:load_bundle"
    # The department list in force (the home's, for the home's current model), as
    # the server routes with it (classifier.list_updates); None: the model's own.
    taxonomy: str | None = None
    # The settings' [dispatch.urgency] table (centre rules), None for the shipped ones.
    urgency: dict | None = None


class Predictor:
    def __init__(self, bundle, to_columns, urgency: dict | None = None):
        from dispatch import UrgencyRules
        from index.text import Normalizer

        self.bundle = bundle
        self._urgency = UrgencyRules.from_mapping(urgency)
        self._normalize = Normalizer()
        self._to_columns = to_columns
        predict = getattr(bundle, "predict_batch", None) or getattr(bundle, "predict", None)
        # A bundle that maps a whole batch to PRED_COLUMNS itself skips the
        # per-row Prediction objects (the batch hot path).
        self._columns = getattr(bundle, "predict_columns", None) or (
            lambda texts: [tuple(to_columns(p)) for p in predict(texts)])
        self._dept_scores = getattr(bundle, "department_scores", None)
        self._mentions = self._keywords = None
        if self._dept_scores is not None:
            from dispatch.codepts import keyword_patterns, mention_patterns

            listed = list((getattr(bundle, "departments", None) or {}).values())
            self._mentions, self._keywords = mention_patterns(listed), keyword_patterns(listed)

    def info(self) -> dict:
        b = self.bundle
        labels = {}
        for head in ("type", "department"):
            for attr in (f"{head}_labels", f"{head}_classes"):
                got = getattr(b, attr, None)
                if got is not None:
                    labels[head] = [str(x) for x in got]
                    break
        return {"labels": labels, "identity": str(getattr(b, "identity", "")),
                "pid": os.getpid()}

    def predict(self, texts: list[str]) -> list[tuple | tuple[str, str]]:
        """One entry per text: a tuple of PRED_COLUMNS values, or, for a text the
        model rejects, ``("error", code, reason)``."""
        try:
            rows = self._columns(texts)
        except InvalidInput:
            pass
        else:
            return self._with_dispatch([tuple(r) for r in rows], texts)
        # One bad text spoils the batch call; redo this chunk row by row.
        out = []
        for t in texts:
            try:
                out.append(tuple(self._columns([t])[0]))
            except HotlineError as exc:
                out.append(("error", getattr(exc, "code", "invalid_input"), str(exc)))
        return self._with_dispatch(out, texts)

    def _with_dispatch(self, rows: list[tuple], texts: list[str]) -> list[tuple]:
        """Each model row plus DISPATCH_COLUMNS; error rows pass through."""
        ok = [i for i, r in enumerate(rows) if not (len(r) == 3 and r[0] == "error")]
        norm = {i: self._normalize(texts[i]) for i in ok}
        split = {}
        if self._dept_scores is not None and ok:
            from dispatch.codepts import assign
            from index.text.records import has_title

            whole = [{d["label"]: float(d["prob"]) for d in json.loads(rows[i][5] or "[]")}
                     for i in ok]
            split = dict(zip(ok, assign([norm[i] for i in ok], self._dept_scores, whole=whole,
                                        mentions=self._mentions, keywords=self._keywords,
                                        titled=[has_title(texts[i]) for i in ok])))
        out = list(rows)
        urgency = dict(zip(ok, self._urgency.assess_many([norm[i] for i in ok])))
        for i in ok:
            d = split.get(i)
            lead = (d.lead or {}).get("name", "") if d is not None else rows[i][2]
            co = ";".join(d.co_names) if d is not None else ""
            out[i] = rows[i] + (urgency[i].level, lead or "", co)
        return out


def default_columns(p) -> tuple:
    """Fallback mapping from a Prediction (ARCHITECTURE.md) to MODEL_COLUMNS."""
    top3 = [{"label": d["label"], "prob": round(float(d["prob"]), 4)} if isinstance(d, dict)
            else {"label": d.label, "prob": round(float(d.prob), 4)}
            for d in p.department_top3]
    return (p.type, round(float(p.type_conf), 4), p.department,
            round(float(p.department_conf), 4), bool(p.needs_review),
            json.dumps(top3, ensure_ascii=False))


def load_predictor(spec: ModelSpec) -> Predictor:
    # One intra-op thread per worker: N workers on N cores beat N workers each
    # spinning N threads (oversubscription more than halves throughput).
    if spec.threads:
        os.environ["HOTLINE_EMBED_THREADS"] = str(spec.threads)
        os.environ.setdefault("OMP_NUM_THREADS", str(spec.threads))
    if spec.home:
        os.environ["HOTLINE_HOME"] = spec.home
    module_name, func = spec.loader.split(":")
    module = importlib.import_module(module_name)
    bundle = getattr(module, func)(spec.model_dir,
                                   **({"taxonomy": spec.taxonomy} if spec.taxonomy else {}))
    to_columns = getattr(module, "prediction_columns", None) or default_columns
    return Predictor(bundle, to_columns, spec.urgency)


# ---- worker-process side (ProcessPoolExecutor initializer and tasks) ----
_worker: Predictor | None = None
_worker_error: BaseException | None = None


def _die_with_parent() -> None:
    """A killed parent must not leave workers holding a model in memory: they
    block on a queue whose write end they hold themselves, so they never see EOF."""
    import signal
    import threading
    import time

    # The real parent: the batch process (fork, spawn) or the forkserver, which
    # itself exits when the batch process does.
    parent = os.getppid()
    try:
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass

    def watch() -> None:  # portable fallback
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def init_worker(spec: ModelSpec) -> None:
    # An exception escaping an initializer only says "pool broken"; keep it and
    # raise it from the first task so the user sees the real reason.
    global _worker, _worker_error
    _die_with_parent()
    embedders = sys.modules.get("index.embedders")
    if embedders is not None:
        embedders.clear_cache()  # never reuse a session copied from the parent
    try:
        _worker = load_predictor(spec)
    except Exception as exc:  # noqa: BLE001 - re-raised by the first task
        _worker_error = exc


def _get() -> Predictor:
    if _worker is None:
        raise _worker_error or RuntimeError("worker was not initialised")
    return _worker


def worker_info() -> dict:
    return _get().info()


def worker_predict(texts: list[str]) -> list:
    return _get().predict(texts)
