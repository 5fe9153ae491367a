"""The `hotline` command: a thin layer over library calls.

Each subcommand lives in its own module ``hotline.cli.<name>`` exposing
``register(subparsers)``; the parser it adds sets ``func=run(args, settings)``
returning an exit code. Modules import heavy libraries inside ``run`` so that
``hotline --help`` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

from foundation.errors import HotlineError
from foundation.settings import Settings

COMMANDS = ("serve", "kb", "index", "search", "embed", "train", "reclassify",
            "eval", "model", "bench", "incidents")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hotline",
        description="Knowledge-base search and request dispatch for Chinese public-service hotlines.",
    )
    parser.add_argument("--home", help="directory for everything the product writes "
                        "(default $HOTLINE_HOME or ./var)")
    parser.add_argument("--config", help="TOML settings file (default $HOTLINE_CONFIG or HOME/hotline.toml)")
    parser.add_argument("--shared-data", help="shared data folder (default $HOTLINE_SHARED_DATA or ../shared/data)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"hotline.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # faiss reports at INFO which build it loaded, and on an AVX2-only CPU first a
    # ModuleNotFoundError for the AVX-512 one: routine, but it reads as a failure.
    logging.getLogger("faiss.loader").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    try:
        settings = Settings.load(
            overrides={"home": args.home, "shared_data": args.shared_data},
            config_file=args.config,
        )
        return int(args.func(args, settings) or 0)
    except HotlineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
