"""`hotline eval embedder [--model NAME]`: sts_zh quality beside a TF-IDF baseline.

Writes JSON + Markdown to HOME/reports/embedder-<name>.{json,md} and prints the Markdown.
"""


def register(sub) -> None:
    p = sub.add_parser("embedder", help="evaluate an embedder on sts_zh (STS-B, LCQMC, BQ, "
                       "AFQMC, PAWS-X, ATEC) beside a TF-IDF char n-gram baseline")
    p.add_argument("--model", help="embedder name: use, static, e5, e5-hotline, st:<dir> (default: the one `hotline embed` uses)")
    p.add_argument("--max-pairs", type=int, default=4000,
                   help="pairs sampled per set (seeded; 0 = all; LCQMC is always whole)")
    p.add_argument("--sets", help="comma-separated subset, e.g. LCQMC,STS-B")
    p.add_argument("--compare", help="another embedder scored on the same pairs in the same run "
                   "(e.g. --model e5 --compare use)")
    p.add_argument("--build", action="store_true", help="build the embedder artifact if missing")
    p.set_defaults(func=run)


def run(args, settings) -> int:
    from foundation.errors import InvalidInput
    from index.embedders import get_embedder
    from training.eval_embedder import PAIR_SETS, evaluate, to_markdown, write_report

    name = args.model or settings.embed_model
    sets = [s.strip() for s in args.sets.split(",")] if args.sets else None
    unknown = [s for s in sets or [] if s not in PAIR_SETS]
    if unknown:
        raise InvalidInput(f"unknown set {unknown[0]!r}; expected some of {sorted(PAIR_SETS)}")
    if args.build:
        from training.embedders import ensure

        for n in filter(None, (name, args.compare)):
            ensure(n, settings)
    embedder = get_embedder(name, settings)
    compare = get_embedder(args.compare, settings) if args.compare else None
    result = evaluate(embedder, settings.shared_data / "sts_zh", args.max_pairs, sets,
                      compare=compare)
    jpath, mpath = write_report(result, settings.home / "reports")
    print(to_markdown(result))
    print(f"written: {jpath} {mpath}")
    return 0
