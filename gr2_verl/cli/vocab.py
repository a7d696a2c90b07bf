"""``gr2 vocab extend``: add SID tokens to a model's tokenizer and embeddings, save both together."""

from __future__ import annotations

import argparse
from pathlib import Path

EPILOG = """examples:
  gr2 vocab extend --model models/Qwen3-8B --sids runs/sid/ml-100k/sid_map.json --out models/qwen3-8b-sid
  gr2 vocab extend --model DIR --sids sid_map.json --out OUT --init pieces
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "vocab",
        help="extend a Hugging Face model's vocabulary with SID tokens",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="vocab_command", required=True)
    ext = sub.add_parser("extend", help="add <|sid_begin|>, <|sid_end|> and every <s_x_N> as normal tokens",
                         epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    ext.add_argument("--model", required=True, help="folder with a causal LM and its tokenizer")
    ext.add_argument("--sids", required=True, help="sid_map.json (levels and codebook size set the tokens)")
    ext.add_argument("--out", required=True, help="output folder for model + tokenizer (veRL model.path)")
    ext.add_argument("--init", default="mean", choices=["mean", "pieces"],
                     help="new rows: mean of existing rows + noise, or mean of the token text's pieces")
    ext.add_argument("--noise-std", type=float, default=0.02, help="noise scale for --init mean, times per-dim std")
    ext.add_argument("--seed", type=int, default=0, help="seed of the --init noise (default 0)")
    ext.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from gr2_verl.io import output_dir
    from gr2_verl.types import SidMap
    from gr2_verl.vocab import extend_vocabulary

    model = Path(args.model)
    if not (model / "config.json").is_file():
        raise FileNotFoundError(f"{model}: not a Hugging Face model folder (expected {model / 'config.json'})")
    if output_dir(args.out).resolve() == model.resolve():
        raise ValueError(f"{args.out}: --out is the --model folder; write the extended model elsewhere")
    sid_map = SidMap.load(args.sids)
    summary = extend_vocabulary(args.model, sid_map, args.out, init=args.init, seed=args.seed, noise_std=args.noise_std)
    print(f"added {summary['tokens_added']} of {summary['tokens_requested']} SID tokens "
          f"(ids {summary['first_new_id']}..{summary['last_new_id']}); tokenizer {summary['tokenizer_size']}, "
          f"embedding rows {summary['embedding_rows']}, init {summary['init']}")
    print(f"wrote model + tokenizer to {summary['out_dir']} (and sid_map.json, sid_vocab.json)")
    return 0
