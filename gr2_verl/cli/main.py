"""Entry point of the ``gr2`` command: registers every subcommand module and dispatches to it.

This is the one error path of every subcommand: bad input (a missing, truncated or malformed file, a
bad row or field) raises ``ValueError``, ``KeyError`` or ``OSError`` with a message that names the file
and row or field; ``main`` prints it as one line, ``gr2 <command>: error: ...``, and returns 1. ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from gr2_verl import __version__

# One module per subcommand under gr2_verl/cli/, in the order the pipeline runs them.
SUBCOMMANDS = ("prepare", "sid", "vocab", "traces", "eval", "lab", "quickstart", "validate", "mini")

# What bad input raises: ValueError covers JSON, UTF-8 and Arrow decoding errors; OSError missing files
# and directories; KeyError a missing column or field.
INPUT_ERRORS = (ValueError, KeyError, OSError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gr2", description="Train LLM rerankers with veRL, the GR2 way.")
    parser.add_argument("--debug", action="store_true", help="show the Python traceback of an error")
    parser.add_argument("--version", action="version", version=f"gr2-verl {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMANDS:
        importlib.import_module(f"gr2_verl.cli.{name}").register(subparsers)
    for sub in subparsers.choices.values():
        # Also accepted after the subcommand; SUPPRESS keeps the top-level value when absent here.
        sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except INPUT_ERRORS as e:
        if args.debug:
            raise
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"gr2 {args.command}: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"gr2 {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
