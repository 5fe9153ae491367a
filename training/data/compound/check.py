"""Check training/data/compound/{dev,test}.csv: columns, ids, labels in the demo
taxonomy, kind agrees with co, no text twice, no department group in both halves.
Prints the counts; exits 1 on any error. Run from the repository root."""
import csv
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
COLUMNS = ["id", "text", "lead", "co", "kind", "group"]


def main() -> int:
    sys.path.insert(0, str(HERE.parents[2]))
    from kb.demo.departments import DEPARTMENTS

    names = {d.name for d in DEPARTMENTS.values()}
    errors, groups, texts = [], {}, set()
    for split in ("dev", "test"):
        with open(HERE / f"{split}.csv", encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames != COLUMNS:
                errors.append(f"{split}.csv: columns {reader.fieldnames}, expected {COLUMNS}")
                continue
            rows = list(reader)
        ids = [r["id"] for r in rows]
        if len(set(ids)) != len(ids) or not all(i.startswith(split[0]) for i in ids):
            errors.append(f"{split}.csv: ids not unique or not {split[0]}NNN")
        for r in rows:
            co = [c for c in r["co"].split(";") if c]
            bad = [n for n in [r["lead"], *co] if n not in names]
            if bad:
                errors.append(f"{r['id']}: departments {bad} not in the demo taxonomy")
            if r["lead"] in co or len(set(co)) != len(co):
                errors.append(f"{r['id']}: co {co} repeats the lead or itself")
            if r["kind"] != ("compound" if co else "single"):
                errors.append(f"{r['id']}: kind {r['kind']!r} but co {co}")
            if r["text"] in texts:
                errors.append(f"{r['id']}: text appears twice")
            texts.add(r["text"])
        groups[split] = {r["group"] for r in rows}
        comp = sum(1 for r in rows if r["co"])
        print(f"{split}: {len(rows)} rows, {comp} compound, {len(rows) - comp} single, "
              f"{len(groups[split])} groups")
    shared = groups.get("dev", set()) & groups.get("test", set())
    if shared:
        errors.append(f"groups in both dev and test: {sorted(shared)}")
    for e in errors:
        print("ERROR", e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
