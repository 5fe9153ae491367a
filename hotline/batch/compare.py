"""Change report for ``--compare-col``: how the new model's labels differ from
an existing label column. Counts live in a small JSON-able state (kept in the
checkpoint, so a resumed run reports on every row); changed rows are streamed
to a CSV spool, and only the most confident changes are held in memory."""
from __future__ import annotations

import csv
import heapq
import io
import os
from collections import Counter
from pathlib import Path

from foundation.artifacts import write_json_atomic

HEADS = ("department", "type")
# Index of the label and confidence of each head in PRED_COLUMNS.
_PRED_INDEX = {"type": (0, 1), "department": (2, 3)}
TOP_CHANGES = 20
CHANGE_COLUMNS = ("row", "old", "new", "confidence", "needs_review", "pred_type",
                  "pred_department", "pred_department_top3", "text")


class ChangeTracker:
    def __init__(self, column: str, head: str = "auto", labels: dict | None = None,
                 state: dict | None = None):
        self.column = column
        self.labels = labels or {}
        s = state or {}
        self.head = s.get("head") or (None if head == "auto" else head)
        self.pairs = Counter({tuple(k.split("\t", 1)): v for k, v in s.get("pairs", {}).items()})
        self.dept_rows = Counter(s.get("dept_rows", {}))
        self.dept_changed = Counter(s.get("dept_changed", {}))
        self.unlabelled = s.get("unlabelled", 0)
        self.top = [tuple(x) for x in s.get("top", [])]  # min-heap of the most confident changes

    def state(self) -> dict:
        return {"head": self.head, "pairs": {f"{o}\t{n}": c for (o, n), c in self.pairs.items()},
                "dept_rows": dict(self.dept_rows), "dept_changed": dict(self.dept_changed),
                "unlabelled": self.unlabelled, "top": [list(x) for x in self.top]}

    def _choose_head(self, items) -> None:
        """``auto``: the head whose label set the old column uses (labels from the
        model if it exposes them, else agreement with its predictions)."""
        olds = [o for o, _, _ in items if o]
        if not olds:
            return
        score = {}
        for h in HEADS:
            known = set(self.labels.get(h, ()))
            i = _PRED_INDEX[h][0]
            score[h] = (sum(o in known for o in olds),
                        sum(o == p[i] for o, p, _ in items if o))
        self.head = max(HEADS, key=lambda h: score[h])

    def add(self, items: list[tuple[str, tuple, tuple]]) -> bytes:
        """``items``: (old label, prediction tuple, (row, text)); returns CSV
        lines of the changed rows for the spool."""
        if self.head is None:
            self._choose_head(items)
            if self.head is None:
                self.unlabelled += len(items)
                return b""
        li, ci = _PRED_INDEX[self.head]
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        for old, pred, (row, text) in items:
            if not old:
                self.unlabelled += 1
                continue
            new = pred[li]
            self.pairs[(old, new)] += 1
            dept = pred[2]
            self.dept_rows[dept] += 1
            if old != new:
                self.dept_changed[dept] += 1
                conf = float(pred[ci])
                w.writerow([row, old, new, conf, pred[4], pred[0], pred[2], pred[5], text[:120]])
                entry = (conf, row, old, new, bool(pred[4]), text[:80])
                if len(self.top) < TOP_CHANGES:
                    heapq.heappush(self.top, entry)
                elif entry > self.top[0]:
                    heapq.heapreplace(self.top, entry)
        return buf.getvalue().encode("utf-8", "replace")

    # ---- the report ----
    def figures(self) -> dict:
        old = Counter()
        new = Counter()
        for (o, n), c in self.pairs.items():
            old[o] += c
            new[n] += c
        total = sum(old.values())
        changed = sum(c for (o, n), c in self.pairs.items() if o != n)
        # Ties broken by name: a resumed run must report exactly like an uninterrupted one.
        labels = sorted(old, key=lambda l: (-old[l], l)) + sorted(set(new) - set(old))
        index = {l: i for i, l in enumerate(labels)}
        matrix = [[0] * len(labels) for _ in labels]
        for (o, n), c in self.pairs.items():
            matrix[index[o]][index[n]] = c
        transitions = sorted(([o, n, c] for (o, n), c in self.pairs.items() if o != n),
                             key=lambda t: (-t[2], t[0], t[1]))
        shifts = []
        for l in labels:
            i = index[l]
            kept = matrix[i][i]
            out_row = [(matrix[i][j], labels[j]) for j in range(len(labels)) if j != i and matrix[i][j]]
            in_col = [(matrix[j][i], labels[j]) for j in range(len(labels)) if j != i and matrix[j][i]]
            shifts.append({
                "label": l, "old": old[l], "new": new[l], "delta": new[l] - old[l],
                "delta_pct": round(100.0 * (new[l] - old[l]) / old[l], 1) if old[l] else None,
                "kept": kept, "moved_out": old[l] - kept, "moved_in": new[l] - kept,
                "top_destination": max(out_row)[1] if out_row else None,
                "top_source": max(in_col)[1] if in_col else None,
            })
        by_department = [
            {"department": d, "rows": n, "changed": self.dept_changed[d],
             "changed_pct": round(100.0 * self.dept_changed[d] / n, 1)}
            for d, n in sorted(self.dept_rows.items(), key=lambda kv: (-kv[1], kv[0]))]
        return {
            "column": self.column, "head": self.head, "rows_compared": total,
            "rows_without_old_label": self.unlabelled, "changed": changed,
            "changed_pct": round(100.0 * changed / total, 2) if total else 0.0,
            "agreement": round(1 - changed / total, 4) if total else None,
            "old_counts": _ranked(old), "new_counts": _ranked(new),
            "transitions": transitions,
            "confusion": {"labels": labels, "matrix": matrix, "rows": "old", "columns": "new"},
            "shifts": shifts, "changes_by_predicted_department": by_department,
            "most_confident_changes": [
                {"row": r, "old": o, "new": n, "confidence": round(c, 4), "needs_review": nr,
                 "text": t} for c, r, o, n, nr, t in sorted(self.top, reverse=True)],
        }

    def write_report(self, report_dir: Path, changes_spool: Path) -> dict:
        from hotline.batch import plots

        report_dir = Path(report_dir)
        report_dir.mkdir(parents=True, exist_ok=True)
        fig = self.figures()
        changes = report_dir / "changed_rows.csv"
        with open(changes, "wb") as fh:
            fh.write((",".join(CHANGE_COLUMNS) + "\n").encode("utf-8"))
            if changes_spool.exists():
                with open(changes_spool, "rb") as src:
                    for block in iter(lambda: src.read(1 << 20), b""):
                        fh.write(block)
        fig["files"] = {"changed_rows": changes.name, "departments_png": "shift.png",
                        "confusion_png": "confusion.png", "markdown": "report.md"}
        labels = fig["confusion"]["labels"]
        fig["plot_label_codes"] = plots.bar_chart(
            labels, [fig["old_counts"].get(l, 0) for l in labels],
            [fig["new_counts"].get(l, 0) for l in labels],
            report_dir / "shift.png", title=f"{self.head}: {self.column} (old) vs model (new)")
        plots.heatmap(labels, fig["confusion"]["matrix"], report_dir / "confusion.png",
                      title=f"{self.head}: old {self.column} (rows) vs new (columns)")
        write_json_atomic(report_dir / "report.json", fig)
        tmp = report_dir / ".report.md.tmp"
        tmp.write_text(markdown(fig), encoding="utf-8")
        os.replace(tmp, report_dir / "report.md")
        return fig


def _ranked(counts: Counter) -> dict:
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _table(header: list[str], rows: list[list]) -> str:
    def cell(v):
        return "" if v is None else str(v).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def markdown(fig: dict) -> str:
    out = [f"# Change report: `{fig['column']}` vs the model's `{fig['head']}`", ""]
    out.append(f"- rows compared: **{fig['rows_compared']}** "
               f"(rows without an old label: {fig['rows_without_old_label']})")
    out.append(f"- rows that change: **{fig['changed']}** ({fig['changed_pct']}%); "
               f"agreement {fig['agreement']}")
    out.append(f"- every changed row with its confidence: `{fig['files']['changed_rows']}`")
    codes = fig.get("plot_label_codes")
    if codes:
        out.append("- plots use short codes (no CJK font found): "
                   + ", ".join(f"{c} = {l}" for l, c in codes.items()))
    out += ["", "![old vs new counts](shift.png)", "", "![confusion](confusion.png)", ""]
    out += ["## Old → new counts", ""]
    out.append(_table(["old", "new", "rows"], fig["transitions"][:50]) if fig["transitions"]
               else "No row changes.")
    if len(fig["transitions"]) > 50:
        out.append(f"\n({len(fig['transitions']) - 50} smaller transitions in report.json)")
    out += ["", f"## Per-{fig['head']} shifts", ""]
    out.append(_table(["label", "old", "new", "delta", "delta %", "kept", "moved out",
                       "moved in", "mostly to", "mostly from"],
                      [[s["label"], s["old"], s["new"], f"{s['delta']:+d}", s["delta_pct"],
                        s["kept"], s["moved_out"], s["moved_in"], s["top_destination"],
                        s["top_source"]] for s in fig["shifts"]]))
    if fig["head"] != "department":
        out += ["", "## Changes by predicted department", ""]
        out.append(_table(["department", "rows", "changed", "changed %"],
                          [[d["department"], d["rows"], d["changed"], d["changed_pct"]]
                           for d in fig["changes_by_predicted_department"]]))
    labels = fig["confusion"]["labels"]
    out += ["", "## Confusion matrix (rows: old, columns: new)", ""]
    out.append(_table(["old \\ new"] + labels,
                      [[l] + row for l, row in zip(labels, fig["confusion"]["matrix"])]))
    out += ["", "## Most confident changes (likeliest misroutes)", ""]
    out.append(_table(["row", "old", "new", "confidence", "needs review", "text"],
                      [[c["row"], c["old"], c["new"], c["confidence"], c["needs_review"],
                        c["text"]] for c in fig["most_confident_changes"]]))
    return "\n".join(out) + "\n"
