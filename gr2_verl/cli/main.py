"""Entry point of the ``gr2`` command: registers every subcommand module and dispatches to it."""

from __future__ import annotations

import argparse
import importlib
import sys

# One module per subcommand under gr2_verl/cli/, in the order the pipeline runs them.
SUBCOMMANDS = ("prepare", "sid", "vocab", "traces", "eval", "lab", "quickstart", "validate", "mini")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gr2", description="Train LLM rerankers with veRL, the GR2 way.")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMANDS:
        importlib.import_module(f"gr2_verl.cli.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
