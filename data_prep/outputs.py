"""Write the dataset folder (layout below; RL rows: ``gr2_verl.rl_row``) from samples, items and a SID map.

    DIR/items.jsonl, DIR/samples.jsonl, DIR/sid_map.json, DIR/rl/{train,val,test}.parquet,
    DIR/sft/midtrain.parquet, DIR/summary.json, DIR/summary.md

``write_outputs`` is separate from loading and candidate generation so any source of samples (our
loaders, your own lists, a fitted or given SID map) ends in the same files. Every file is written
atomically, and nothing in them depends on time or paths: the same inputs and seed give the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from data_prep.prompt_stats import prompt_length_stats
from data_prep.rl_parquet import SPLITS, rl_rows
from data_prep.sft_parquet import SFT_SCHEMA, midtrain_rows
from gr2_verl.io import atomic_write_text, write_parquet
from gr2_verl.rl_row import RL_SCHEMA
from gr2_verl.types import Item, RerankSample, SidMap

FILES = {
    "items": "items.jsonl",
    "samples": "samples.jsonl",
    "sid_map": "sid_map.json",
    **{f"rl_{s}": f"rl/{s}.parquet" for s in SPLITS},
    "sft_midtrain": "sft/midtrain.parquet",
    "summary_json": "summary.json",
    "summary_md": "summary.md",
}


class CachedSidMap(SidMap):
    """A SidMap that builds each SID string once: prompts and SFT rows ask for the same items millions of times."""

    def __init__(self, sid_map: SidMap) -> None:
        super().__init__(levels=sid_map.levels, codebook_size=sid_map.codebook_size, codes=sid_map.codes)
        self._strings: dict[str, str] = {}

    def sid(self, item_id: str) -> str:
        cached = self._strings.get(item_id)
        if cached is None:
            cached = self._strings[item_id] = super().sid(item_id)
        return cached


def check_coverage(samples: Sequence[RerankSample], items: Mapping[str, Item], sid_map: SidMap) -> None:
    """ValueError naming the first item without a SID or sample item without metadata (before any write)."""
    for item_id in items:
        if item_id not in sid_map.codes:
            raise ValueError(f"catalogue item '{item_id}' has no SID in the SID map")
    for s in samples:
        for item_id in (*s.history, *s.candidates, *s.targets):
            if item_id not in items:
                raise ValueError(f"sample '{s.sample_id}': item '{item_id}' has no metadata (title, categories)")
            if item_id not in sid_map.codes:
                raise ValueError(f"sample '{s.sample_id}': item '{item_id}' has no SID in the SID map")


def _drops(counts: Mapping[str, Mapping[str, int]]) -> str:
    """``"12 target not among the candidates, 3 SID collisions"`` summed over splits."""
    miss = sum(c["skipped_miss"] for c in counts.values())
    collision = sum(c["sid_collision"] for c in counts.values())
    return f"{miss} target not among the candidates, {collision} SID collisions"


def _jsonl(rows: Sequence[Mapping[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def write_outputs(
    samples: Sequence[RerankSample],
    items: Mapping[str, Item],
    sid_map: SidMap,
    out_dir: str | Path,
    *,
    dataset: str,
    popularity: Mapping[str, int],
    seed: int = 0,
    shuffle: bool = False,
    keep_all: bool = False,
    hints: str | None = None,
    general: list[dict[str, Any]] | None = None,
    report: Mapping[str, Any] | None = None,
    prompt_stats: bool = True,
    progress: bool = False,
) -> dict[str, Any]:
    """Write every file of the dataset folder and return the summary (also saved as summary.json/.md).

    ``popularity`` is the training interaction count per item (``extra_info.candidate_popularity``);
    ``report`` (counts, pre-ranker metrics from the loading side) is copied into the summary.
    """
    out = Path(out_dir)
    if not samples:
        raise ValueError("no samples to write: every example was left out (see the counts above); nothing written")
    check_coverage(samples, items, sid_map)
    sid_map = CachedSidMap(sid_map)
    iterable = tqdm(samples, desc="RL rows", unit="sample", disable=not progress)
    rows, rl_counts = rl_rows(
        iterable,
        items,
        sid_map,
        popularity,
        dataset=dataset,
        seed=seed,
        shuffle=shuffle,
        keep_all=keep_all,
        hints=hints,
    )
    if not any(rows.values()):
        raise ValueError(
            f"no RL rows from {len(samples)} samples ({_drops(rl_counts)}); nothing written. A sample becomes a row "
            "when its target is among its K candidates (--keep-all keeps misses) and its candidates' SIDs differ"
        )
    sft, sft_counts = midtrain_rows(samples, items, sid_map, seed=seed, general=general)
    catalogue = [{"item_id": i.item_id, "title": i.title, "categories": list(i.categories)} for i in items.values()]
    atomic_write_text(out / FILES["items"], _jsonl(catalogue))
    atomic_write_text(out / FILES["samples"], _jsonl([s.to_dict() for s in samples]))
    sid_map.save(str(out / FILES["sid_map"]))
    for split in SPLITS:
        write_parquet(rows[split], RL_SCHEMA, out / FILES[f"rl_{split}"])
    write_parquet(sft, SFT_SCHEMA, out / FILES["sft_midtrain"])

    summary: dict[str, Any] = {
        "dataset": dataset,
        "settings": {"seed": seed, "shuffle": shuffle, "keep_all": keep_all, "hints": bool(hints)},
        **dict(report or {}),
        "samples": {s: sum(1 for x in samples if x.split == s) for s in SPLITS},
        "target_in_candidates": {s: sum(1 for x in samples if x.split == s and x.target_position > 0) for s in SPLITS},
        "rl": rl_counts,
        "sft_midtrain": sft_counts,
        "sid_map": {"items": len(sid_map.codes), "uniqueness": round(sid_map.uniqueness(), 4)},
        "files": dict(FILES),
    }
    if prompt_stats:
        summary["prompt_tokens"] = prompt_length_stats(rows, sid_map.vocabulary(), seed=seed)
    atomic_write_text(out / FILES["summary_json"], json.dumps(summary, indent=2, sort_keys=True) + "\n")
    atomic_write_text(out / FILES["summary_md"], summary_markdown(summary))
    return summary


def summary_markdown(summary: Mapping[str, Any]) -> str:
    """The human-readable twin of summary.json."""
    lines = [
        f"# Dataset {summary['dataset']}",
        "",
        "| split | samples | target in top-K | RL rows | dropped (SID collision) |",
    ]
    lines.append("|---|---|---|---|---|")
    for s in SPLITS:
        rl, hits = summary["rl"][s], summary["target_in_candidates"][s]
        lines.append(f"| {s} | {summary['samples'][s]} | {hits} | {rl['rows']} | {rl['sid_collision']} |")
    pre = summary.get("preranker")
    if pre:
        lines += ["", f"## Pre-ranker ({pre.get('name', 'given lists')})", "", "| model | split | Recall@K | NDCG@K |"]
        lines.append("|---|---|---|---|")
        for model, by_split in pre.get("metrics", {}).items():
            for split, m in by_split.items():
                recall = next((v for k, v in m.items() if k.startswith("recall@")), 0.0)
                ndcg = next((v for k, v in m.items() if k.startswith("ndcg@")), 0.0)
                lines.append(f"| {model} | {split} | {recall:.4f} | {ndcg:.4f} |")
    stats = summary.get("prompt_tokens")
    if stats:
        lines += ["", "## Prompt tokens (Qwen3 chat template)", "", "| split | tokenizer | n | median | p90 | max |"]
        lines.append("|---|---|---|---|---|---|")
        for split, by_tok in stats.items():
            for tok, d in by_tok.items():
                if d.get("n"):
                    lines.append(f"| {split} | {tok} | {d['n']} | {d['median']:.0f} | {d['p90']:.0f} | {d['max']} |")
    sft = summary["sft_midtrain"]
    lines += ["", "## SFT mid-training rows", "", ", ".join(f"{k}: {v}" for k, v in sorted(sft.items()))]
    lines += ["", "## Files", ""] + [f"- `{p}`" for p in summary["files"].values()]
    return "\n".join(lines) + "\n"
