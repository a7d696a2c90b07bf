"""``gr2 sid``: fit semantic IDs for a catalogue (``fit``) and describe a SID map (``report``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

EPILOG = """examples:
  gr2 sid fit --items data/ml-100k/items.jsonl --out runs/sid/ml-100k
  gr2 sid fit --items items.jsonl --embeddings items.npy --method rqkmeans --out runs/sid/rqk
  gr2 sid fit --items items.jsonl --out runs/sid/plain --set ema=false --set kmeans_init=false --set steps=2000
  gr2 sid report runs/sid/ml-100k/sid_map.json
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "sid",
        help="fit semantic IDs (RQ-VAE / RQ-KMeans) and report their quality",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="sid_command", required=True)
    fit = sub.add_parser("fit", help="item texts -> embeddings -> SID map + report", epilog=EPILOG,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    fit.add_argument("--items", required=True,
                     help="catalogue (items.jsonl of `gr2 prepare`, or CSV/JSONL/parquet: item_id, title, categories)")
    fit.add_argument("--out", required=True, help="output folder")
    fit.add_argument("--method", default="rqvae", choices=["rqvae", "rqkmeans"],
                     help="rqvae: residual-quantised VAE (default); rqkmeans: residual k-means, no training")
    fit.add_argument("--seed", type=int, default=0, help="seed of initialisation and training (default 0)")
    fit.add_argument("--embeddings", help="precomputed .npy, one row per item in items.jsonl order")
    fit.add_argument("--embed-model", help="sentence-transformers folder or name (default: bundled all-MiniLM-L6-v2)")
    fit.add_argument("--cache-dir", help="embedding cache folder (default: ~/.cache/gr2_verl/embeddings)")
    fit.add_argument("--threads", type=int, help="torch CPU threads (1 is fastest on a busy shared machine)")
    fit.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="method option, value parsed as JSON when it can be: steps=2000, ema=false, hidden=[256,128]")
    fit.set_defaults(run=run_fit)
    rep = sub.add_parser("report", help="uniqueness, collisions and per-level usage of a SID map")
    rep.add_argument("sid_map", help="sid_map.json")
    rep.add_argument("--out", help="write the JSON report here too")
    rep.set_defaults(run=run_report)


def parse_options(pairs: list[str]) -> dict:
    """``["steps=2000", "ema=false"]`` -> ``{"steps": 2000, "ema": False}``."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--set needs KEY=VALUE, got {pair!r}")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def run_fit(args: argparse.Namespace) -> int:
    import torch

    from gr2_verl.io import atomic_write_text, input_file, output_dir
    from gr2_verl.sid import fit_codes
    from gr2_verl.sid.embed import default_embed_model, embed_texts, load_embeddings
    from gr2_verl.sid.items import read_item_texts
    from gr2_verl.sid.report import report_markdown
    from gr2_verl.types import SidMap

    out = output_dir(args.out)  # before minutes of embedding and fitting
    if args.embeddings:
        input_file(args.embeddings, ".npy embeddings")
    options = parse_options(args.set)
    if args.threads:
        torch.set_num_threads(args.threads)
    texts = read_item_texts(args.items)
    print(f"{args.items}: {len(texts)} items")
    if args.embeddings:
        emb, model_name = load_embeddings(args.embeddings, len(texts)), args.embeddings
    else:
        model_name = args.embed_model or default_embed_model()
        emb = embed_texts(list(texts.values()), model_name, cache_dir=args.cache_dir, show_progress=True)
    fit = fit_codes(emb, method=args.method, seed=args.seed, progress=True, **options)
    sid_map = SidMap(levels=fit.quantizer.levels, codebook_size=fit.quantizer.codebook_size,
                     codes={i: tuple(int(c) for c in row) for i, row in zip(texts, fit.codes, strict=True)})
    report = {**fit.report, "items_file": args.items, "embeddings": model_name}
    sid_map.save(str(out / "sid_map.json"))
    lines = (json.dumps({"item_id": i, "codes": list(c), "sid": sid_map.sid(i)}) for i, c in sid_map.codes.items())
    atomic_write_text(out / "sids.jsonl", "\n".join(lines) + "\n")
    fit.quantizer.save(out / "sid_quantizer.pt")
    atomic_write_text(out / "sid_report.json", json.dumps(report, indent=2))
    md = report_markdown(report)
    atomic_write_text(out / "sid_report.md", md)
    print(md)
    for name in ("sid_map.json", "sids.jsonl", "sid_quantizer.pt", "sid_report.json", "sid_report.md"):
        print(f"wrote {out / name}")
    return 0


def run_report(args: argparse.Namespace) -> int:
    import numpy as np

    from gr2_verl.io import atomic_write_text
    from gr2_verl.sid.report import code_report, report_markdown
    from gr2_verl.types import SidMap

    if args.out and Path(args.out).is_dir():
        raise IsADirectoryError(f"{args.out}: --out is a folder, expected a JSON file path")
    sid_map = SidMap.load(args.sid_map)
    codes = np.array(list(sid_map.codes.values()), dtype=np.int64).reshape(-1, sid_map.levels)
    report = {"method": args.sid_map, **code_report(codes, sid_map.codebook_size)}
    print(report_markdown(report))
    if args.out:
        print(f"wrote {atomic_write_text(args.out, json.dumps(report, indent=2))}")
    return 0
