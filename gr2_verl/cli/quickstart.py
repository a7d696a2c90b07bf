"""``gr2 quickstart``: the README's main job; the pipeline is ``gr2_verl.quickstart``."""

from __future__ import annotations

import argparse

EPILOG = """examples:
  gr2 quickstart --out runs/quickstart
  gr2 quickstart --out runs/qs_fast --sid-method rqkmeans --lab-steps 20 --lab-variants naive_format,conditional_format
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "quickstart",
        help="run the CPU pipeline on MovieLens-100K and write a report with the next GPU commands",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", default="runs/quickstart", help="output folder (default: %(default)s)")
    p.add_argument("--sid-method", default="rqvae", help="rqvae (GR2's) or rqkmeans (faster) (default: %(default)s)")
    p.add_argument("--lab-steps", type=int, default=60, help="reward-lab DAPO steps per reward (default: %(default)s)")
    p.add_argument("--lab-variants", default="all", help="comma-separated reward variants for the lab (default: all)")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed for every step (default: %(default)s)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from gr2_verl.quickstart import QuickstartConfig, run_quickstart

    variants = () if args.lab_variants == "all" else tuple(v.strip() for v in args.lab_variants.split(","))
    config = QuickstartConfig(sid_method=args.sid_method, lab_steps=args.lab_steps, lab_variants=variants,
                              bootstrap=args.bootstrap, seed=args.seed)
    run_quickstart(args.out, config, echo=lambda line: print(line, flush=True))
    return 0
