"""``gr2 mini``: the miniature GR2 on CPU, all three stages through veRL's own trainers, and its report."""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import replace

EPILOG = """examples:
  gr2 mini                                  # the full run, report in runs/mini/
  gr2 mini --out runs/mini-fast --reasoning-steps 60 --dapo-steps 10

Stages: synthetic shop -> tiny Qwen3 with its own small vocabulary -> recipes/midtrain_sft.sh (the
mixture, then the whole-prompt copy rows) -> recipes/reasoning_sft.sh (traces + replayed mid-training rows)
-> recipes/dapo.sh with conditional_format and with naive_format (PRESET=cpu_tiny) -> greedy answers on the
held-out rows -> report.md, report.json, PNG plots.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "mini",
        help="miniature GR2 on CPU: mid-training SFT, reasoning SFT, DAPO (two rewards), evaluation report",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", default="runs/mini", help="output folder (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the data and the model")
    p.add_argument("--train", type=int, help="training samples")
    p.add_argument("--test", type=int, help="held-out test samples")
    p.add_argument("--midtrain-steps", type=int, help="mid-training SFT steps")
    p.add_argument("--copy-steps", type=int, help="second mid-training phase: whole-prompt copy steps")
    p.add_argument("--reasoning-steps", type=int, help="reasoning SFT steps")
    p.add_argument("--dapo-steps", type=int, help="DAPO steps per reward")
    p.add_argument("--dapo-lr", type=float, help="DAPO learning rate")
    p.add_argument(
        "--rule-share", type=float, help="share of teacher traces following the rule (the rest: a same-category habit)"
    )
    p.add_argument("--no-dapo", action="store_true", help="stop after reasoning SFT and report the stages so far")
    p.add_argument("--resume", action="store_true", help="keep the stages a previous run in --out completed")
    p.add_argument(
        "--dapo-override",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra Hydra override for both DAPO runs (repeatable)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from gr2_verl.mini import pipeline, report
    from gr2_verl.mini.recipes import StageError

    s = pipeline.MiniSettings()
    data = {k: v for k, v in {"train": args.train, "test": args.test, "seed": args.seed}.items() if v is not None}
    s.data = replace(s.data, **data)
    s.arch = replace(s.arch, seed=args.seed)
    for name in ("midtrain_steps", "copy_steps", "reasoning_steps", "dapo_steps", "dapo_lr", "rule_share"):
        if getattr(args, name) is not None:
            setattr(s, name, getattr(args, name))
    s.dapo_extra = list(args.dapo_override)
    if args.no_dapo:
        s.dapo_rewards = ()
    try:
        results = pipeline.run(args.out, s, resume=args.resume)
    except StageError as e:
        print(f"gr2 mini: {e}", file=sys.stderr)
        return 1
    command = "gr2 mini " + " ".join(shlex.quote(a) for a in sys.argv[2:]) if sys.argv[1:2] == ["mini"] else "gr2 mini"
    paths = report.write(results, args.out, command.strip())
    print((paths[0].parent / "report.md").read_text())
    for path in paths:
        print(f"wrote {path}")
    return 0
