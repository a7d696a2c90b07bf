"""``gr2 quickstart``: the README's main job on the embedded default."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

EPILOG = """examples:
  gr2 quickstart --out runs/quickstart
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "quickstart",
        help="run the CPU pipeline on the embedded default and write a report",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", default="runs/quickstart", help="output folder (default: %(default)s)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from gr2_verl.io import atomic_write_text
    from gr2_verl.reward_table import reward_table, to_markdown

    out = Path(args.out)
    rows = reward_table()
    json_path = atomic_write_text(out / "reward_table.json", json.dumps(rows, indent=2))
    md = "# What each reward pays (K=10, target at input position 4, alpha=0.2)\n\n" + to_markdown(rows)
    md_path = atomic_write_text(out / "reward_table.md", md)
    print(md)
    print(f"wrote {json_path} and {md_path}")
    return 0
