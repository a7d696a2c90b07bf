"""``gr2 prepare``: interaction logs -> reranking samples -> veRL RL and SFT parquet (see data_prep/)."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

EPILOG = """examples:
  gr2 prepare movielens --out data/ml-100k                      # fits SIDs on the catalogue first
  gr2 prepare movielens --sid-map sid_map.json --out data/ml-100k
  gr2 prepare movielens --sid-map sid_map.json --out data/ml-100k-all --keep-all --shuffle
  gr2 prepare amazon --category Beauty --raw-dir raw/ --download --sid-map beauty_sids.json --out data/beauty
  gr2 prepare custom --interactions log.csv --items items.jsonl --candidates lists.jsonl \\
      --name shop --sid-map shop_sids.json --out data/shop

output folder: items.jsonl, samples.jsonl, sid_map.json, rl/{train,val,test}.parquet,
sft/midtrain.parquet, summary.json, summary.md
"""


CUSTOM_EPILOG = """files: CSV with a header, JSONL or parquet by extension; CSV and JSONL may be gzipped (.gz).
timestamps: numbers (Unix seconds) or ISO 8601 (2024-01-31T12:00:00Z); a time without zone is read as UTC.

candidate lists (--candidates), one row per list:
  candidates  ranked item ids, best first: a JSON list, or '|'-joined in CSV (a|b|c; never comma-joined)
  labels      optional, one grade per candidate (0 = not relevant, higher = more relevant): several positives
  key         one of: request_id (also a field of the interactions) | user_id + timestamp |
              user_id + item_id (the target interaction) | sample_id (<user_id>:<n>, see data_prep/README.md)
Lists shorter than --k, or naming items outside the catalogue, drop their sample; longer lists are cut to
--k; every such case is counted on the terminal. Keys that match no sample are an error.
"""


def _common() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--sid-map",
        help="SidMap JSON ({levels, codebook_size, codes}) covering every item; "
        "default: fit RQ-VAE SIDs on the catalogue (as `gr2 sid fit` does)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed for folds, shuffling and row order (default 0)")
    p.add_argument("--k-core", type=int, default=5, help="min interactions per user and item (default 5)")
    p.add_argument("--max-history", type=int, default=20, help="history items shown per sample (default 20)")
    p.add_argument("--k", type=int, default=10, help="candidates per sample (default 10)")
    p.add_argument("--keep-all", action="store_true", help="also write RL rows whose target the pre-ranker missed")
    p.add_argument("--shuffle", action="store_true", help="show candidates in a seeded random order in prompts")
    p.add_argument("--hints", help="domain hints text added to every prompt")
    p.add_argument("--general-text", help="JSONL of {'messages': [...]} mixed into the SFT mid-training file")
    p.add_argument(
        "--check",
        action="store_true",
        help="check inputs, candidate-list keys, SID coverage and --out in seconds; print what would be built, "
        "write nothing",
    )
    p.add_argument(
        "--ray",
        action="store_true",
        help="score the pre-ranker's candidates and build the RL rows on a Ray cluster: RAY_ADDRESS if set, "
        "else a local one (same output; see data_prep/README.md)",
    )
    p.add_argument(
        "--split-at",
        metavar="VAL_START,TEST_START",
        help="global time split instead of leave-one-out: targets before VAL_START train, before TEST_START "
        "validate, later test (Unix seconds or ISO 8601, e.g. 2024-06-01,2024-06-15)",
    )
    return p


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "prepare",
        help="build reranking data (RL + SFT parquet) from interaction logs",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sources = p.add_subparsers(dest="source", required=True)
    common = _common()
    sources.add_parser("movielens", parents=[common], help="MovieLens-100K from the installed recbole wheel")
    amazon = sources.add_parser("amazon", parents=[common], help="Amazon Reviews 2014 (5-core reviews + meta)")
    amazon.add_argument("--category", required=True, help="e.g. Beauty, Sports_and_Outdoors")
    amazon.add_argument("--raw-dir", required=True, help="folder with reviews_<Cat>_5.json.gz and meta_<Cat>.json.gz")
    amazon.add_argument("--download", action="store_true", help="fetch missing raw files first (needs internet)")
    custom = sources.add_parser(
        "custom",
        parents=[common],
        help="your own CSV / JSONL / parquet files",
        epilog=CUSTOM_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    custom.add_argument("--interactions", required=True, help="user_id, item_id, timestamp [, event, request_id]")
    custom.add_argument("--items", required=True, help="item_id, title [, categories, any other column]")
    custom.add_argument(
        "--candidates", help="your own ranked lists (skips our pre-ranker): candidates [, labels] + one key, see below"
    )
    custom.add_argument("--name", default="custom", help="dataset name, data_source becomes gr2/<name>")
    custom.add_argument(
        "--events", help="comma-separated values of the interactions' 'event' field to keep, e.g. purchase,add_to_cart"
    )
    custom.add_argument(
        "--keep-repeats",
        action="store_true",
        help="keep a user's repeated interactions with an item (default: only the first counts)",
    )
    custom.add_argument(
        "--item-text",
        metavar="TEMPLATE",
        help="item text in prompts and SID fitting, a format string over the items file's columns, "
        "e.g. '{title} by {brand}, {price} EUR' (default: the title)",
    )
    p.set_defaults(run=run)


def _load(args: argparse.Namespace):
    """(dataset name, coded log, items, given candidate lists or None) for the chosen source."""
    from data_prep.interactions import CodedLog

    if args.source == "movielens":
        from data_prep import movielens

        return movielens.DATASET, CodedLog.from_frame(movielens.load_interactions()), movielens.load_items(), None
    if args.source == "amazon":
        from data_prep import amazon

        if args.download:
            for path in amazon.download(args.category, args.raw_dir):
                print(f"raw file: {path}")
        reviews, meta = (Path(args.raw_dir) / n for n in amazon.file_names(args.category))
        log, items = amazon.load(reviews, meta)
        return f"amazon-{args.category.lower()}", CodedLog.from_frame(log), items, None
    from data_prep import custom
    from data_prep.interactions import drop_repeats

    given = custom.load_candidates(args.candidates) if args.candidates else None  # small: fail fast on its format
    items = custom.load_items(args.items, args.item_text)
    events = {e.strip() for e in args.events.split(",") if e.strip()} if args.events else None
    log = custom.load_coded_interactions(args.interactions, items, events, progress=True)
    if events is not None:
        print(f"{args.interactions}: {len(log)} interactions with event in {sorted(events)}")
    if not args.keep_repeats:
        n = len(log)
        log = drop_repeats(log)
        if len(log) < n:
            print(
                f"{args.interactions}: dropped {n - len(log)} repeated (user, item) interactions, kept the oldest "
                "of each (--keep-repeats keeps them)"
            )
    return args.name, log, items, given


def _split_at(text: str | None) -> tuple[int, int] | None:
    """``--split-at VAL_START,TEST_START`` as Unix seconds."""
    from data_prep.custom import timestamp

    if text is None:
        return None
    parts = text.split(",")
    if len(parts) != 2:
        raise ValueError(f"--split-at needs VAL_START,TEST_START (e.g. 2024-06-01,2024-06-15), got {text!r}")
    return timestamp("--split-at", parts[0]), timestamp("--split-at", parts[1])


def _check_inputs(args: argparse.Namespace) -> None:
    """Fail in a second, before loading or fitting anything: every input readable, --out a folder."""
    from gr2_verl.io import input_file, output_dir

    output_dir(args.out)
    _split_at(args.split_at)
    if args.source == "amazon" and not args.download:
        from data_prep.amazon import file_names

        names = file_names(args.category)
        for name in names:
            if not (Path(args.raw_dir) / name).is_file():
                raise FileNotFoundError(
                    f"{Path(args.raw_dir) / name}: no such file; --raw-dir needs {' and '.join(names)} "
                    "(--download fetches them)"
                )
    for flag in ("sid_map", "general_text", "interactions", "items", "candidates"):
        if getattr(args, flag, None):
            input_file(getattr(args, flag), "--" + flag.replace("_", "-"))


def _fit_sids(catalogue: dict, seed: int):
    """RQ-VAE SIDs (gr2_verl.sid defaults) for the items that survived k-core filtering."""
    from gr2_verl.sid import fit_sid_map

    print(f"fitting semantic IDs for {len(catalogue)} items (RQ-VAE; pass --sid-map to reuse a map)")
    sid_map, _ = fit_sid_map({i: item.text() for i, item in catalogue.items()}, seed=seed, progress=True)
    print(f"SID uniqueness {sid_map.uniqueness():.4f}")
    return sid_map


def _print_given(report: dict) -> None:
    """What the user's candidate lists did: counts by reason, with a few keys each."""
    print(f"candidate lists ({report['key']}): {report['lists_used']} of {report['lists']} matched a sample")
    notes = {
        "lists_matching_no_sample": "lists matching no sample (user or item removed by k-core, or a key typo)",
        "no_list": "samples without a list: left out",
        "short_list": "samples whose list is shorter than --k: left out",
        "unknown_items": "samples whose list names items outside the catalogue (unknown, or cut by k-core): left out",
        "no_positive": "samples whose labels have no positive: left out",
        "truncated_to_k": "lists longer than --k: cut to the first K",
        "target_not_in_list": "samples whose target is not in their list: no RL row unless --keep-all",
    }
    for reason, note in notes.items():
        if report.get(reason):
            shown = ", ".join(report["examples"].get(reason, []))
            print(f"  {report[reason]} {note}; e.g. {shown}")


def _check(args: argparse.Namespace, log, sid_map) -> int:
    """``--check`` without candidate lists: k-core and split only, then coverage."""
    from data_prep.pipeline import split_log

    filtered, _, examples, _ = split_log(log, args.k_core, _split_at(args.split_at))
    if not examples:
        raise ValueError(f"no examples after {args.k_core}-core filtering of {len(log)} interactions; lower --k-core")
    catalogue = dict.fromkeys(filtered.item_ids.tolist())
    splits = Counter(examples.split_counts())
    return _check_done(args, catalogue, sid_map, splits, "examples")


def _check_done(args: argparse.Namespace, catalogue: dict, sid_map, splits: Counter, what: str) -> int:
    """Coverage of the SID map, then what a real run would build (nothing is written)."""
    missing = [i for i in catalogue if sid_map is not None and i not in sid_map.codes]
    if missing:
        raise ValueError(f"{args.sid_map}: {len(missing)} catalogue items have no SID, e.g. {missing[:3]}")
    sids = "from --sid-map" if sid_map is not None else "fitted (RQ-VAE) first"
    counts = ", ".join(f"{s} {splits.get(s, 0)}" for s in ("train", "val", "test"))
    print(f"check ok: {len(catalogue)} items (SIDs {sids}); {what}: {counts}; would write {args.out}")
    return 0


def run(args: argparse.Namespace) -> int:
    from data_prep.outputs import write_outputs
    from data_prep.pipeline import build_samples
    from data_prep.sft_parquet import load_general_text
    from gr2_verl.types import SidMap

    _check_inputs(args)
    sid_map = SidMap.load(args.sid_map) if args.sid_map else None
    general = load_general_text(args.general_text) if args.general_text else None
    dataset, log, items, given = _load(args)
    if args.check and given is None:  # the pre-ranker is the slow part: count examples without it
        return _check(args, log, sid_map)
    if args.ray:
        import ray

        ray.init()  # RAY_ADDRESS names the cluster; without it Ray starts a local one
    handed, out = [log], Path(args.out)
    del log  # handed over, not kept: build_samples drops the log's arrays (16 bytes an interaction) after k-core
    prepared = build_samples(
        handed.pop(),
        min_interactions=args.k_core,
        max_history=args.max_history,
        k=args.k,
        seed=args.seed,
        given=given,
        split_at=_split_at(args.split_at),
        progress=True,
        ray=args.ray,
        scratch=next(p for p in (out, *out.parents) if p.exists()),  # candidates on the output's disk, not in RAM
    )
    if "given" in prepared.report:
        _print_given(prepared.report["given"])
    catalogue = {i: items[i] for i in prepared.item_ids}
    if args.check:
        splits = Counter(prepared.shards.split_counts())
        return _check_done(args, catalogue, sid_map, splits, "samples")
    summary = write_outputs(
        prepared.shards,
        catalogue,
        sid_map or _fit_sids(catalogue, args.seed),
        args.out,
        dataset=dataset,
        popularity=prepared.popularity,
        seed=args.seed,
        shuffle=args.shuffle,
        keep_all=args.keep_all,
        hints=args.hints,
        general=general,
        report=prepared.report,
        progress=True,
        ray=args.ray,
    )
    counts = summary["log"]
    print(f"{dataset}: {counts['users']} users, {counts['items']} items, {counts['interactions']} interactions")
    for split, counts in summary["rl"].items():
        print(f"  {split}: {summary['samples'][split]} samples -> {counts['rows']} RL rows ({counts})")
    for model, by_split in summary["preranker"]["metrics"].items():
        if "test" in by_split:
            print(f"  candidates by {model}: test {by_split['test']}")
    for split, stats in summary.get("prompt_tokens", {}).items():
        print(f"  prompt tokens {split}: {stats}")
    for rel in summary["files"].values():
        print(f"wrote {Path(args.out) / rel}")
    return 0
