"""`hotline embed --in TEXTS.txt --out VECS.npy [--model NAME]`.

One text per line in (UTF-8; a trailing newline does not make an extra text),
a float32 [n, dim] matrix out, rows L2-normalised and in input order.
"""


def register(sub) -> None:
    p = sub.add_parser("embed", help="embed one text per line into a float32 .npy matrix")
    p.add_argument("--in", dest="inp", required=True, help="UTF-8 text file, one text per line ('-' = stdin)")
    p.add_argument("--out", required=True, help="output .npy path")
    p.add_argument("--model", help="embedder name: use, static, e5, e5-hotline, st:<dir> (default: settings.similarity_embedder, else settings.embedder)")
    p.add_argument("--kind", choices=("query", "doc"), default="query")
    p.add_argument("--batch", type=int, default=2048, help="texts per embed() call")
    p.set_defaults(func=run)


def read_lines(path: str) -> list[str]:
    import sys

    if path == "-":
        data = sys.stdin.buffer.read()
    else:
        with open(path, "rb") as fh:
            data = fh.read()
    text = data.decode("utf-8-sig")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [ln[:-1] if ln.endswith("\r") else ln for ln in lines]


def run(args, settings) -> int:
    import os
    import sys
    from pathlib import Path

    import numpy as np
    from tqdm import tqdm

    from foundation.errors import InvalidInput
    from index.embedders import get_embedder

    try:
        texts = read_lines(args.inp)
    except FileNotFoundError:
        raise InvalidInput(f"input file {args.inp} does not exist") from None
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"input file {args.inp} is not UTF-8: {exc}") from None
    if args.batch < 1:
        raise InvalidInput(f"--batch must be >= 1, got {args.batch}")
    # fp32 throughout: a row must not depend on --batch (a lone text would
    # otherwise take the int8 query graph).
    embedder = get_embedder(args.model or settings.embed_model, settings.replace(embed_precision="fp32"))
    out = np.empty((len(texts), embedder.dim), dtype=np.float32)
    with tqdm(total=len(texts), desc=f"embed ({embedder.name})", unit="text",
              disable=len(texts) < 5000, file=sys.stderr) as bar:
        for i in range(0, len(texts), args.batch):
            out[i:i + args.batch] = embedder.embed(texts[i:i + args.batch], kind=args.kind)
            bar.update(len(texts[i:i + args.batch]))
    dest = Path(args.out)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp.npy")
    np.save(tmp, out, allow_pickle=False)
    os.replace(tmp, dest)
    print(f"wrote {dest}: {out.shape[0]} x {out.shape[1]} float32 ({embedder.name})", file=sys.stderr)
    return 0
