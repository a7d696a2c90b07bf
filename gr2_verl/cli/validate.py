"""``gr2 validate``: check veRL RL parquet files before spending GPU hours on them."""

from __future__ import annotations

import argparse

EPILOG = """examples:
  gr2 validate data/ml-100k/rl/train.parquet data/ml-100k/rl/test.parquet
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "validate",
        help="check RL parquet rows: schema, ground truth, input order scores",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("files", nargs="+", help="RL parquet files written by `gr2 prepare`")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from gr2_verl.validate import validate_rl_parquet

    failed = 0
    for path in args.files:
        report = validate_rl_parquet(path)
        print(f"{path}: {report.rows} rows, {'ok' if report.ok else f'{len(report.errors)} errors'}")
        for line in report.errors:
            print(f"  {line}")
        failed += not report.ok
    return 1 if failed else 0
