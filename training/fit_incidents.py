"""Fit the incident linker on a labelled dev set and write its parameter directory.

    python -m training.fit_incidents training/data/incidents/dev.csv \
        --out incidents/data/default

The shipped default (incidents/data/default) is fitted this way on the project's
own dev set; never on test.csv, which is for reporting only."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from foundation.artifacts import file_hash, machine_info
from incidents.dataset import read_labelled
from incidents.linker import DEFAULT_DIR, IncidentLinker


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dev", type=Path, help="labelled CSV (report_id, incident, time, region, text)")
    ap.add_argument("--out", type=Path, default=DEFAULT_DIR)
    args = ap.parse_args(argv)
    _, reports, gold = read_labelled(args.dev)
    linker = IncidentLinker().fit(reports, gold)
    linker.save(args.out, data=args.dev.name, data_hash=file_hash(args.dev),
                machine=machine_info())
    info = dict(linker.fit_info_)
    info.pop("threshold_grid", None)
    print(json.dumps({"out": str(args.out), **info, **{k: v for k, v in linker.params().items()
                                                        if k in ("threshold", "window", "windows")}},
                     ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
