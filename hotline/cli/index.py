"""`hotline index build|status`: the knowledge-base search index."""
from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("index", help="build or inspect the KB search index")
    cmds = p.add_subparsers(dest="index_cmd", metavar="ACTION")
    b = cmds.add_parser("build", help="build a full index from the KB and publish it atomically")
    b.add_argument("--dense", choices=("auto", "flat", "hnsw"), default="auto",
                   help="dense index kind (auto: exact flat up to 10k rows, HNSW beyond)")
    b.add_argument("--with-answers", action="store_true",
                   help="also index each entry's answer (counts less than its questions)")
    b.set_defaults(func=run_build)
    s = cmds.add_parser("status", help="what is published and whether it matches the configuration")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=run_status)
    p.set_defaults(func=lambda args, settings: p.print_help() or 2)


def run_build(args, settings) -> int:
    return build(settings, dense=args.dense, with_answers=args.with_answers)


def build(settings, dense: str = "auto", with_answers: bool = False) -> int:
    """`hotline index build` (also run by `hotline train --encoder` after a new encoder)."""
    from index.embedders import get_embedder
    from index.search import build_index
    from kb import kb_exists, kb_target, open_store

    if not kb_exists(settings):
        where = settings.kb_path if settings.kb_is_sqlite else "the KB database"
        print(f"error: no KB at {where}; import one with `hotline kb import` "
              f"or `hotline kb demo`")
        return 2
    from training.embedders import ensure

    store = open_store(settings, taxonomy=None)
    # The embedder's ONNX export first (seconds, once per home): without it the
    # numpy fallback embeds the 23k-entry demo KB ~5x slower.
    ensure(settings.embedder, settings)
    embedder = get_embedder(settings.embedder, settings)
    path = build_index(store, embedder, settings, dense_kind=dense,
                       include_answers=with_answers, progress=True)
    from foundation.artifacts import read_manifest

    m = read_manifest(path)
    print(f"built {path.name}: {m['n_entries']} entries, {m['n_rows']} rows, "
          f"dense={m['dense_kind']}, embedder={m['embedder']}, {m['build_seconds']}s")
    return 0


def run_status(args, settings) -> int:
    from foundation.artifacts import read_manifest, resolve_current
    from foundation.errors import HotlineError

    current = resolve_current(settings.index_root)
    out = {"index_root": str(settings.index_root), "current": None,
           "configured_embedder": settings.embedder}
    code = 0
    if current is None:
        out["problem"] = "no index built yet; run `hotline index build`"
        code = 1
    else:
        out["current"] = current.name
        try:
            m = read_manifest(current, "search-index")
            out.update({k: m.get(k) for k in ("built_at", "n_entries", "n_rows", "dense_kind",
                                               "embedder", "embedder_identity", "kb_seq",
                                               "include_answers", "build_seconds")})
            if m.get("embedder") != settings.embedder:
                out["problem"] = (f"built with embedder {m.get('embedder')!r}, configured "
                                  f"{settings.embedder!r}: rebuild with `hotline index build`")
                code = 1
        except HotlineError as exc:
            out["problem"] = str(exc)
            code = 1
    from kb import KBStore, kb_exists, kb_target

    if out.get("kb_seq") is not None and kb_exists(settings):
        out["kb_last_seq"] = KBStore(kb_target(settings)).last_seq()
        out["pending_changes"] = out["kb_last_seq"] - out["kb_seq"]
    if args.json:
        print(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        for k, v in out.items():
            print(f"{k}: {v}")
    return code
