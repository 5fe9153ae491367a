"""Link the rows of a file into incidents (`hotline incidents`): read (CSV, JSONL or
XLSX through batch.readers), prepare each report as it is read, link in time
order, write every input row back in input order with ``incident_id`` and
``incident_size`` added. Memory holds the rows and their small prepared form."""
from __future__ import annotations

import csv
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from foundation.errors import InvalidInput
from hotline.batch.readers import MISSING, BadRow, cell_text, open_reader


@dataclass
class LinkSummary:
    rows: int
    incidents: int
    multi_report: int
    largest: int
    seconds: float
    output: str

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def _column(columns, name: str, flag: str) -> int:
    if name not in columns:
        raise InvalidInput(f"column {name!r} ({flag}) is not in the input; its columns are "
                           f"{columns}")
    return columns.index(name)


_CHUNK = 500   # distinct texts per task sent to a worker


def _analyse_chunk(texts):
    from incidents.reports import analyse

    return [analyse(t) for t in texts]


def _prepared_in_time_order(reports, order, workers: int):
    """(index, prepared report) in time order. Each distinct text is analysed once
    (exports repeat texts: 已处理, a copied complaint), and kept only until its last
    report. With ``workers`` > 1, processes (forked after the tokenizer is loaded,
    so they share it) analyse the distinct texts in chunks, in order of first use,
    while the caller links the reports whose texts are already back."""
    from incidents.reports import analyse, prepared_from

    last: dict[str, int] = {}
    for pos, i in enumerate(order):
        last[reports[i].text] = pos
    texts = list(last)   # a dict keeps first insertion: texts in order of first use
    done: dict[str, tuple] = {}
    if workers <= 1 or len(texts) < 4 * _CHUNK:
        for pos, i in enumerate(order):
            t = reports[i].text
            a = done.get(t)
            if a is None:
                a = done[t] = analyse(t)
            if last[t] == pos:
                del done[t]
            yield i, prepared_from(reports[i], a)
        return
    import multiprocessing

    from index.text import get_tokenizer

    get_tokenizer()
    _analyse_chunk(texts[:1])   # every lazy table loaded before the fork
    parts = [texts[k:k + _CHUNK] for k in range(0, len(texts), _CHUNK)]
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        results = zip(parts, pool.imap(_analyse_chunk, parts))
        for pos, i in enumerate(order):
            t = reports[i].text
            while t not in done:   # texts come back in order of first use
                part, analyses = next(results)
                done.update(zip(part, analyses))
            a = done.pop(t) if last[t] == pos else done[t]
            yield i, prepared_from(reports[i], a)


# Linking by district in worker processes pays while the biggest district is at most
# this share of the rows. Linking costs ~0.11 ms a row and analysing a distinct
# text ~0.07 ms (50,000 distinct reports, one process): a district of share f takes
# f x 0.18 ms a row in one worker, the pipeline above 0.11 ms in the main process
# (its workers analyse beside it): break-even at f = 0.11 / 0.18 = 0.6.
_MAX_DISTRICT_SHARE = 0.6
_JOB: tuple = ()   # (reports, order, linker), set before the fork: workers inherit it


def _link_district(positions: list[int]) -> tuple[list[int], list[int]]:
    """Analyse and link one district's reports (``positions`` in the time order, a
    rising list) in a worker. Returns the positions and, per report, the position of
    its incident's first report: incidents never span districts (candidates are the
    open incidents of the report's district), so each district is an independent
    stream, and the first report's position numbers incidents exactly as one stream
    over the whole file does (each incident is numbered at its first report)."""
    from incidents.reports import analyse, prepared_from

    reports, order, linker = _JOB
    done: dict[str, tuple] = {}   # one district's distinct texts

    def items():
        for pos in positions:
            r = reports[order[pos]]
            a = done.get(r.text)
            if a is None:
                a = done[r.text] = analyse(r.text)
            yield pos, prepared_from(r, a)

    firsts: list[int] = []
    out = []
    for pos, local in linker.link_stream(items()):
        if local == len(firsts):   # numbered in order: a new incident, opened here
            firsts.append(pos)
        out.append(firsts[local])
    return positions, out


def _link_by_district(reports, order, linker, workers: int, progress) -> list[int] | None:
    """Per report, a label (the time-order position of its incident's first report),
    linked district by district in ``workers`` processes; None when the file is too
    small or one district too big for that to pay (the caller links in one stream)."""
    if workers <= 1 or len(reports) < 4 * _CHUNK:
        return None
    by_region: dict[str, list[int]] = {}
    for pos, i in enumerate(order):
        by_region.setdefault((reports[i].region or "").strip(), []).append(pos)
    groups = sorted(by_region.values(), key=len, reverse=True)   # the longest first
    if len(groups) < 2 or len(groups[0]) > _MAX_DISTRICT_SHARE * len(reports):
        return None
    import multiprocessing

    from incidents.reports import analyse
    from index.text import get_tokenizer

    global _JOB
    get_tokenizer()
    analyse("幸福小区停水")   # every lazy table loaded before the fork
    labels = [0] * len(reports)
    _JOB = (reports, order, linker)
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for positions, firsts in pool.imap_unordered(_link_district, groups):
                for pos, first in zip(positions, firsts):
                    labels[order[pos]] = first
                if progress is not None:
                    progress.update(len(positions))
    finally:
        _JOB = ()
    return labels


def link_file(input: Path, out: Path, text_col: str, time_col: str, region_col: str | None,
              linker=None, encoding: str = "auto", progress: bool = True,
              workers: int = 2) -> tuple[LinkSummary, list]:
    """The summary and, per row, (incident id, incident size, time, region) for the report."""
    from incidents.linker import IncidentLinker
    from incidents.reports import BadTime, Report, parse_time

    started = time.perf_counter()
    linker = linker or IncidentLinker.load()
    try:
        reader = open_reader(input, encoding=encoding)
    except FileNotFoundError as exc:
        raise InvalidInput(str(exc)) from None
    except (OSError, UnicodeError) as exc:
        raise InvalidInput(f"cannot read {input}: {exc}") from None
    columns = list(reader.columns)
    if not columns:
        raise InvalidInput(f"{input} has no header row")
    ti = _column(columns, text_col, "--text-col")
    mi = _column(columns, time_col, "--time-col")
    ri = _column(columns, region_col, "--region-col") if region_col else None
    rows, reports = [], []
    try:
        for row, line, values in reader:
            if isinstance(values, BadRow):
                raise InvalidInput(f"{input} row {row} (line {line}): {values.reason}")
            values = ["" if v is MISSING else v for v in values]
            try:
                t = parse_time(cell_text(values[mi]))
            except BadTime as exc:
                raise BadTime(f"{input} row {row} (line {line}), column {time_col!r}: {exc}") from None
            region = cell_text(values[ri]) if ri is not None else ""
            reports.append(Report(t, region, cell_text(values[ti])))
            rows.append(values)
    finally:
        reader.close()
    order = sorted(range(len(reports)), key=lambda k: reports[k].time)
    labels = [0] * len(reports)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(reports), unit="row", desc="link", file=sys.stderr)
    try:
        by_district = _link_by_district(reports, order, linker, workers, bar)
        if by_district is not None:
            labels = by_district
        else:
            items = _prepared_in_time_order(reports, order, workers)
            for i, label in linker.link_stream(items, progress=bar):
                labels[i] = label
    finally:
        if bar is not None:
            bar.close()
    meta = [(r.time, (r.region or "").strip()) for r in reports]
    del reports
    sizes = Counter(labels)
    # ids numbered by each incident's first report in time: stable and readable
    width = max(4, len(str(len(sizes))))
    names = {lab: f"INC{n + 1:0{width}d}" for n, lab in enumerate(sorted(sizes))}
    _write(out, columns, rows, labels, names, sizes)
    summary = LinkSummary(rows=len(rows), incidents=len(sizes),
                          multi_report=sum(1 for v in sizes.values() if v > 1),
                          largest=max(sizes.values(), default=0),
                          seconds=time.perf_counter() - started, output=str(out))
    return summary, [(names[lab], sizes[lab], *meta[i]) for i, lab in enumerate(labels)]



def _write(out: Path, columns, rows, labels, names, sizes) -> None:
    out = Path(out)
    if out.suffix.lower() != ".csv":
        raise InvalidInput(f"--out {out}: expected a .csv file")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial")
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([*columns, "incident_id", "incident_size"])
        for values, lab in zip(rows, labels):
            w.writerow([*(cell_text(v) for v in values), names[lab], sizes[lab]])
    tmp.replace(out)
