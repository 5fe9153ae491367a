"""Where training-side experiments keep their JSON reports: ``HOME/reports``."""
from __future__ import annotations

from pathlib import Path


def save_json_report(settings, name: str, report: dict) -> Path:
    """Write ``report`` atomically to ``HOME/reports/<name>.json``; returns the path."""
    from foundation.artifacts import write_json_atomic

    out = Path(settings.home) / "reports" / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out, report)
    return out
