"""Score the linker and the two baselines on a labelled set (dataset.py format)."""
from __future__ import annotations

from pathlib import Path

from foundation.errors import InvalidInput
from incidents.baseline import WINDOW_HOURS, best_threshold
from incidents.dataset import read_labelled
from incidents.linker import IncidentLinker
from incidents.metrics import scores

# The project's labelled sets (training/data/incidents, written by the project).
DATA_DIR = Path(__file__).resolve().parents[1] / "training" / "data" / "incidents"


def evaluate(path: Path | None = None, linker: IncidentLinker | None = None) -> dict:
    path = Path(path) if path else DATA_DIR / "test.csv"
    if not path.is_file():
        raise InvalidInput(f"labelled set {path} does not exist; pass --data FILE "
                           "(columns report_id, incident, time, region, text)")
    _, reports, gold = read_labelled(path)
    linker = linker or IncidentLinker.load()
    pred = linker.link(reports)
    thr, base = best_threshold(reports, gold)
    rnd = lambda d: {k: (round(v, 4) if isinstance(v, float) else v) for k, v in d.items()}
    return {
        "data": str(path), "reports": len(reports), "gold_incidents": len(set(gold)),
        "gold_multi_report": sum(1 for g in set(gold) if gold.count(g) > 1),
        "linker": rnd({**scores(pred, gold), "threshold": linker.params()["threshold"]}),
        "tfidf_baseline": rnd({**scores(base, gold), "threshold_in_hindsight": thr,
                               "window_hours": WINDOW_HOURS}),
        "singletons": rnd(scores(list(range(len(reports))), gold)),
    }


def to_markdown(report: dict) -> str:
    lines = [f"incident linking on {report['data']}: {report['reports']} reports, "
             f"{report['gold_incidents']} gold incidents ({report['gold_multi_report']} with "
             "more than one report)", "",
             "| method | B3 precision | B3 recall | B3 F1 | pairwise P | pairwise R | pairwise F1 | incidents |",
             "|---|---|---|---|---|---|---|---|"]
    names = {"linker": "IncidentLinker (fitted on dev)",
             "tfidf_baseline": "TF-IDF 2-3-gram, 48 h, components (best threshold in hindsight: "
                               f"{report['tfidf_baseline']['threshold_in_hindsight']})",
             "singletons": "each report alone"}
    for key, name in names.items():
        s = report[key]
        lines.append(f"| {name} | {s['bcubed_precision']:.3f} | {s['bcubed_recall']:.3f} | "
                     f"{s['bcubed_f1']:.3f} | {s['pairwise_precision']:.3f} | "
                     f"{s['pairwise_recall']:.3f} | {s['pairwise_f1']:.3f} | {s['incidents']} |")
    return "\n".join(lines)
