"""``reclassify``: stream an input file through the model and write every input
column plus the prediction columns, resumably.

Working files live in a hidden directory next to the output
(``.OUT.work/``: partial output, partial errors, changed-rows spool,
``checkpoint.json``), so the final rename is on the same file system. A
checkpoint is written only after the spools are fsynced; it records how many
input records are done and the byte length of each spool. A resumed run
truncates each spool to that length and skips that many records, so a row is
never lost and never written twice.
"""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from foundation.artifacts import file_hash, resolve_current, write_json_atomic
from hotline.batch import departments as departments_bundle
from hotline.batch.compare import ChangeTracker
from hotline.batch.errors import MissingColumn, ModelUnavailable, ResumeMismatch
from hotline.batch.predict import PRED_COLUMNS, ModelSpec
from hotline.batch.readers import MISSING, BadRow, format_of, open_reader
from hotline.batch.writers import AppendFile, RowFormatter, error_lines, finalize_output
from classifier.features import join_parts
from index.text import has_content, normalize

log = logging.getLogger(__name__)
CHECKPOINT_VERSION = 2  # 2: bad rows are written to the output too
# A bad row keeps its place and its input columns; no prediction, flagged for review.
NO_PREDICTION = (None, None, None, None, True, None, None)


@dataclass
class Options:
    input: Path
    out: Path
    text_cols: list[str]
    model_dir: Path | None = None
    workers: int = 1
    resume: bool = False
    compare_col: str | None = None
    compare_head: str = "auto"
    errors: Path | None = None
    report_dir: Path | None = None
    chunk_size: int = 512
    encoding: str = "auto"
    sheet: str | None = None
    progress: bool = True
    checkpoint_every: float = 2.0
    loader: str = "classifier:load_bundle"
    # A department list to route by instead of a trained head (batch/departments.py).
    departments: Path | None = None
    engine: str = "local"  # see hotline.batch.engines.ENGINES
    ray_address: str | None = None


@dataclass
class Summary:
    input: str
    output: str
    errors_file: str
    rows_read: int = 0
    rows_written: int = 0
    rows_bad: int = 0
    bad_by_code: dict = field(default_factory=dict)
    truncated: int = 0
    resumed_at_row: int = 0
    seconds: float = 0.0
    rows_per_second: float = 0.0
    report_dir: str | None = None
    changed: int | None = None
    changed_pct: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def default_paths(out: Path) -> tuple[Path, Path, Path]:
    """(errors file, report dir, work dir) beside the output."""
    stem = out.name[: -len(out.suffix)] if out.suffix else out.name
    return (out.with_name(f"{stem}.errors.csv"), out.with_name(f"{stem}.report"),
            out.with_name(f".{out.name}.work"))


def resolve_model(settings, model_dir: Path | None) -> Path:
    if model_dir is not None:
        model_dir = Path(model_dir)
        if not model_dir.is_dir():
            raise ModelUnavailable(f"model directory {model_dir} does not exist")
        return model_dir.resolve()
    root = Path(settings.models_root)
    current = root / "current"
    target = current if current.is_dir() else resolve_current(root)
    if target is None or not Path(target).is_dir():
        raise ModelUnavailable(
            f"no current model under {root}; train one (`hotline train --demo`) or pass --model DIR")
    return Path(target).resolve()


def _list_in_force(settings, opts) -> Path | None:
    """The home's department list when the run uses the home's current model:
    the server routes that model with it (classifier.list_updates), and one
    order must get one answer. An explicit ``--model`` keeps its own list."""
    if opts.model_dir is None and opts.loader == Options.loader and settings.taxonomy_file.is_file():
        return settings.taxonomy_file
    return None


def _optional_model(settings, model_dir: Path | None) -> Path | None:
    """``--model`` (which must exist), else the current model, else None."""
    if model_dir is not None:
        return resolve_model(settings, model_dir)
    try:
        return resolve_model(settings, None)
    except ModelUnavailable:
        return None


def _model_identity(model_dir: Path) -> str:
    h = hashlib.sha256(str(model_dir).encode())
    for m in sorted(model_dir.glob("manifest.json")) + sorted(model_dir.glob("*/manifest.json")):
        h.update(m.read_bytes())
    return h.hexdigest()[:16]


def _input_identity(path: Path) -> dict:
    st = path.stat()
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        h.update(fh.read(1 << 16))
        fh.seek(max(0, st.st_size - (1 << 16)))
        h.update(fh.read())
    return {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
            "sample_hash": h.hexdigest()[:16]}


def _join_text(values, idx) -> tuple[str | None, BadRow | None]:
    """Text columns joined as the trainer joins them (``join_parts``), with
    the reasons a record cannot give a text."""
    parts = []
    missing = 0
    for i in idx:
        v = values[i]
        if v is MISSING or v is None:
            missing += v is MISSING
            parts.append("")
            continue
        if isinstance(v, (dict, list)):
            return None, BadRow("wrong_type", f"text column holds a {type(v).__name__}, "
                                "expected a string", json.dumps(v, ensure_ascii=False)[:200])
        parts.append(str(v).strip())
    if missing == len(idx):
        return None, BadRow("missing_column", "the record has none of the text columns")
    text = join_parts(parts)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return None, BadRow("bad_encoding", "text has bytes that are not valid in the "
                                "file's encoding", text.encode("utf-8", "surrogateescape")
                                .decode("utf-8", "replace")[:200])
    if not text.strip():
        return None, BadRow("empty_text", "all text columns are empty")
    # Content in the raw text survives normalisation; only text without any is
    # normalised here to be sure (NFKC makes "™" letters). Same rule as the API.
    if not has_content(text) and not has_content(normalize(text)):
        return None, BadRow("no_content", "the text columns hold no letter, digit or Chinese "
                            "character (only punctuation, symbols, emoji or spaces)", text[:200])
    return text, None


def _chunks(records, text_idx, compare_idx, skip, chunk_size, max_chars, empty):
    """Yield ((last_row, rows, truncated), texts) in input order. ``rows`` holds
    every record, ``(row, line, values, old, text)`` for a good one and
    ``(row, line, values, None, BadRow)`` for a bad one (it is written out with
    empty predictions); ``texts`` only the good ones' texts, for the model."""
    rows, texts = [], []
    truncated = 0
    last = skip
    for row, line, values in records:
        if row <= skip:
            continue
        last = row
        if isinstance(values, BadRow):
            rows.append((row, line, values.values or empty, None, values))
        else:
            text, problem = _join_text(values, text_idx)
            if problem is not None:
                rows.append((row, line, values, None, problem))
            else:
                if max_chars and len(text) > max_chars:
                    text = text[:max_chars]
                    truncated += 1
                old = "" if compare_idx is None else values[compare_idx]
                old = "" if old is MISSING or old is None else str(old).strip()
                rows.append((row, line, values, old, text))
                texts.append(text)
        if len(rows) >= chunk_size:
            yield (last, rows, truncated), texts
            rows, texts, truncated = [], [], 0
    if rows:
        yield (last, rows, truncated), texts


class _ChunkSource:
    """The chunks of one run, re-iterable: the first pass uses the open reader,
    a later one (the Ray engine reads twice) a fresh reader on the same file."""

    def __init__(self, reader, reopen, **kw):
        self._reader, self._reopen, self._kw = reader, reopen, kw

    def __iter__(self):
        reader, self._reader = self._reader, None
        if reader is not None:
            yield from _chunks(iter(reader), **self._kw)
            return
        reader = self._reopen()
        try:
            yield from _chunks(iter(reader), **self._kw)
        finally:
            reader.close()


def reclassify(settings, opts: Options) -> Summary:
    from hotline.batch.engines import make_engine

    inp, out = Path(opts.input), Path(opts.out)
    out_format = format_of(out)
    errors_path, report_dir, work = default_paths(out)
    errors_path = Path(opts.errors) if opts.errors else errors_path
    report_dir = Path(opts.report_dir) if opts.report_dir else report_dir
    if not opts.text_cols:
        raise MissingColumn("--text-cols names no column; expected e.g. title,detail")
    if opts.departments:
        base = _optional_model(settings, opts.model_dir)
        model_identity = (f"departments:{departments_bundle.identity(Path(opts.departments))} "
                          f"type:{_model_identity(base) if base else 'none'}")
    else:
        model_dir = resolve_model(settings, opts.model_dir)
        model_identity = _model_identity(model_dir)
        taxonomy = _list_in_force(settings, opts)
        if taxonomy:
            model_identity += f" list:{file_hash(taxonomy)}"
    urgency = _urgency_table(settings)

    reader = open_reader(inp, encoding=opts.encoding, sheet=opts.sheet)
    try:
        cols = reader.columns
        wanted = list(opts.text_cols) + ([opts.compare_col] if opts.compare_col else [])
        absent = [c for c in wanted if c not in cols]
        if absent:
            raise MissingColumn(f"{inp} has no column(s) {absent}; its columns are {cols}")
        identity = {
            "version": CHECKPOINT_VERSION, "input": _input_identity(inp),
            "model": model_identity,
            "text_cols": list(opts.text_cols), "compare_col": opts.compare_col,
            "compare_head": opts.compare_head, "out_format": out_format,
            "encoding": getattr(reader, "encoding", None),
            # A run resumed with other columns or urgency rules would mix two outputs.
            "columns": list(PRED_COLUMNS),
            "urgency": hashlib.sha256(json.dumps(urgency, sort_keys=True, ensure_ascii=False,
                                                 default=str).encode()).hexdigest()[:16],
        }
        state = _load_or_reset(work, identity, opts.resume)
        if opts.departments:
            sample = _sample_texts(inp, opts, cols, settings)
            model_dir = departments_bundle.build(Path(opts.departments), base, work / "model",
                                                 sample, reuse=state["rows_read"] > 0)
        return _run(settings, opts, reader, state, identity, model_dir, out, out_format,
                    errors_path, report_dir, work, make_engine)
    finally:
        reader.close()


def _sample_texts(inp: Path, opts: Options, cols: list[str], settings) -> list[str]:
    """The first ``departments.SAMPLE_ROWS`` good texts of the input, joined and
    cut exactly as the run will classify them (a second reader: the run's own
    one must start at the top)."""
    reader = open_reader(inp, encoding=opts.encoding, sheet=opts.sheet)
    try:
        text_idx = [cols.index(c) for c in opts.text_cols]
        chunks = _chunks(iter(reader), text_idx, None, 0, departments_bundle.SAMPLE_ROWS,
                         settings.max_text_chars, [""] * len(cols))
        return next(chunks, (None, []))[1]
    finally:
        reader.close()


def _urgency_table(settings) -> dict | None:
    """The settings' [dispatch.urgency] table, validated here so that a bad rule
    stops the run before any worker starts."""
    from dispatch import UrgencyRules

    table = dict((getattr(settings, "dispatch", None) or {}).get("urgency") or {}) or None
    UrgencyRules.from_mapping(table)
    return table


def _load_or_reset(work: Path, identity: dict, resume: bool) -> dict:
    ckpt = work / "checkpoint.json"
    fresh = {"identity": identity, "rows_read": 0, "rows_written": 0, "bad": {},
             "truncated": 0, "offsets": {"out": 0, "errors": 0, "changes": 0},
             "compare": None, "elapsed": 0.0}
    if resume and ckpt.is_file():
        state = json.loads(ckpt.read_text(encoding="utf-8"))
        diff = sorted(k for k in identity if state["identity"].get(k) != identity[k])
        if diff:
            raise ResumeMismatch(
                f"cannot resume: the checkpoint in {work} was made with a different {diff} "
                f"({ {k: state['identity'].get(k) for k in diff} } vs "
                f"{ {k: identity[k] for k in diff} }); run without --resume to start over")
        if not (work / "output.partial").is_file():
            raise ResumeMismatch(f"cannot resume: {work} has a checkpoint but no partial "
                                 "output; run without --resume to start over")
        log.info("resuming after row %d (%d rows already written)", state["rows_read"],
                 state["rows_written"])
        return state
    if work.exists():
        if resume:
            log.warning("nothing to resume in %s; starting from the first row", work)
        else:
            log.warning("discarding the unfinished run in %s (use --resume to continue it)", work)
        shutil.rmtree(work)
    elif resume:
        log.warning("no checkpoint at %s; starting from the first row", work)
    work.mkdir(parents=True)
    return fresh


def _run(settings, opts, reader, state, identity, model_dir, out, out_format, errors_path,
         report_dir, work, make_engine) -> Summary:
    from tqdm import tqdm

    t0 = time.perf_counter()
    cols = reader.columns
    text_idx = [cols.index(c) for c in opts.text_cols]
    compare_idx = cols.index(opts.compare_col) if opts.compare_col else None
    threads = 1 if opts.workers > 1 else 0
    taxonomy = None if opts.departments else _list_in_force(settings, opts)
    spec = ModelSpec(str(model_dir), home=str(settings.home), threads=threads,
                     loader=opts.loader, urgency=_urgency_table(settings),
                     taxonomy=str(taxonomy) if taxonomy else None)
    # Workers fork here, before the progress bar starts its thread.
    pool = make_engine(opts.engine, spec, max(1, opts.workers), opts.ray_address)
    try:
        info = pool.info()
        fmt = RowFormatter(out_format, cols, PRED_COLUMNS, plain_strings=reader.format == "csv")
        offs = state["offsets"]
        outf = AppendFile(work / "output.partial", offs["out"])
        errf = AppendFile(work / "errors.partial", offs["errors"])
        chgf = AppendFile(work / "changes.partial", offs["changes"])
        if outf.offset == 0:
            outf.write(fmt.header())
        if errf.offset == 0:
            errf.write(error_lines([], header=True))
        tracker = None
        if opts.compare_col:
            tracker = ChangeTracker(opts.compare_col, opts.compare_head,
                                    labels=info.get("labels"), state=state["compare"])
        bad = Counter(state["bad"])
        skip = state["rows_read"]
        total = reader.estimate_rows()
        bar = tqdm(total=total, initial=skip, unit="row", unit_scale=True, file=sys.stderr,
                   disable=not opts.progress, dynamic_ncols=True, smoothing=0.1,
                   desc="reclassify")

        def save() -> None:
            for f in (outf, errf, chgf):
                f.sync()
            state["offsets"] = {"out": outf.offset, "errors": errf.offset, "changes": chgf.offset}
            state["bad"] = dict(bad)
            state["compare"] = tracker.state() if tracker else None
            state["elapsed"] = prev_elapsed + time.perf_counter() - t0
            write_json_atomic(work / "checkpoint.json", state)

        prev_elapsed = state["elapsed"]
        next_save = time.monotonic() + opts.checkpoint_every
        chunks = _ChunkSource(
            reader, lambda: open_reader(opts.input, encoding=opts.encoding, sheet=opts.sheet),
            text_idx=text_idx, compare_idx=compare_idx, skip=skip, chunk_size=opts.chunk_size,
            max_chars=settings.max_text_chars,
            empty=[MISSING if reader.format == "jsonl" else ""] * len(cols))
        for (last, rows, truncated), preds in pool.map(chunks):
            out_rows, errs, compared = [], [], []
            preds = iter(preds)
            for row, line, values, old, text in rows:
                if isinstance(text, BadRow):
                    errs.append((row, line, text.code, text.reason, text.excerpt))
                    out_rows.append((values, NO_PREDICTION))
                    continue
                pred = next(preds)
                if len(pred) == 3 and pred[0] == "error":
                    errs.append((row, line, pred[1], pred[2], text))
                    out_rows.append((values, NO_PREDICTION))
                    continue
                out_rows.append((values, pred))
                if tracker is not None:
                    compared.append((old, pred, (row, text)))
            outf.write(fmt.rows(out_rows))
            if errs:
                errf.write(error_lines(errs, header=False))
                bad.update(e[2] for e in errs)
            if compared:
                chgf.write(tracker.add(compared))
            bar.update(last - state["rows_read"])
            state["rows_read"] = last
            state["rows_written"] += len(out_rows)
            state["truncated"] += truncated
            if time.monotonic() >= next_save:
                save()
                next_save = time.monotonic() + opts.checkpoint_every
        save()
        bar.close()
        for f in (outf, errf, chgf):
            f.close()
    finally:
        pool.close()

    summary = Summary(input=str(opts.input), output=str(out), errors_file=str(errors_path),
                      rows_read=state["rows_read"], rows_written=state["rows_written"],
                      rows_bad=sum(bad.values()), bad_by_code=dict(bad),
                      truncated=state["truncated"], resumed_at_row=skip)
    # Everything else first, the output last: its presence means the run finished.
    errors_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(work / "errors.partial"), errors_path)
    if tracker is not None:
        fig = tracker.write_report(report_dir, work / "changes.partial")
        summary.report_dir, summary.changed, summary.changed_pct = (
            str(report_dir), fig["changed"], fig["changed_pct"])
    finalize_output(work / "output.partial", out, out_format, fmt.columns, state["rows_written"])
    shutil.rmtree(work, ignore_errors=True)
    summary.seconds = round(time.perf_counter() - t0, 3)
    done = state["rows_read"] - skip
    summary.rows_per_second = round(done / summary.seconds, 1) if summary.seconds else 0.0
    return summary
