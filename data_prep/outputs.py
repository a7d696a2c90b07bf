"""Write the dataset folder (layout below; RL rows: ``gr2_verl.rl_row``) from samples, items and a SID map.

    DIR/items.jsonl, DIR/samples.jsonl, DIR/sid_map.json, DIR/rl/{train,val,test}.parquet,
    DIR/sft/midtrain.parquet, DIR/summary.json, DIR/summary.md

``write_outputs`` is separate from loading and candidate generation so any source of samples (our
loaders, your own lists, a fitted or given SID map) ends in the same files. Every file is written
atomically, and nothing in them depends on time or paths: the same inputs and seed give the same bytes.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tqdm import tqdm

from data_prep.interactions import SPLITS
from data_prep.prompt_stats import picked_rows, prompt_length_stats
from data_prep.rl_parquet import Catalogue, ambiguous, catalogue, list_array, rl_table
from data_prep.sample_table import SampleTable
from data_prep.sft_parquet import SFT_SCHEMA, midtrain_chunks
from gr2_verl.io import atomic_path, atomic_write_text, parquet_writer
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
CHUNK_ROWS = 50_000  # samples turned into rows at once (a parquet row group): ~100 MB, whatever the log size
RL_BUILDERS = 2  # threads building RL chunks (beside the samples and SFT writers): the RL file takes longest


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


def _check_table(table: SampleTable, items: Mapping[str, Item], sid_map: SidMap) -> None:
    """``check_coverage`` for a table: per item first; the samples are scanned only to name a culprit."""
    for item_id in items:
        if item_id not in sid_map.codes:
            raise ValueError(f"catalogue item '{item_id}' has no SID in the SID map")
    bad = [n for n, x in enumerate(table.item_ids.tolist()) if x not in items or x not in sid_map.codes]
    for start in range(0, len(table), CHUNK_ROWS) if bad else ():
        rows = np.arange(start, min(start + CHUNK_ROWS, len(table)))
        check_coverage(_rows(table, rows).to_samples(), items, sid_map)


def _rows(table: SampleTable, rows: np.ndarray) -> SampleTable:
    """The table restricted to ``rows`` (grades renumbered)."""
    grades = table.grades or {}
    return SampleTable(
        item_ids=table.item_ids,
        sample_ids=table.sample_ids.take(pa.array(rows)),
        user_ids=table.user_ids.take(pa.array(rows)),
        splits=table.splits[rows],
        histories=table.histories.take(rows),
        candidates=table.candidates[rows],
        targets=table.targets.take(rows),
        grades={n: grades[r] for n, r in enumerate(rows.tolist()) if r in grades} or None,
    )


def _drops(counts: Mapping[str, Mapping[str, int]]) -> str:
    """``"12 target not among the candidates, 3 SID collisions"`` summed over splits."""
    miss = sum(c["skipped_miss"] for c in counts.values())
    collision = sum(c["sid_collision"] for c in counts.values())
    return f"{miss} target not among the candidates, {collision} SID collisions"


def _json_strings(values: pa.Array) -> pa.Array:
    """Each string as ``json.dumps(s, ensure_ascii=False)`` writes it; Python only for those needing escapes."""
    special = pc.match_substring_regex(values, r'[\x00-\x1f"\\]').to_numpy(zero_copy_only=False)
    quoted = pc.binary_join_element_wise('"', values, '"', "")
    if not special.any():
        return quoted
    texts = values.to_pylist()
    escaped = [json.dumps(s, ensure_ascii=False) if m else None for s, m in zip(texts, special, strict=True)]
    return pc.if_else(pa.array(special), pa.array(escaped, pa.string()), quoted)


def _sample_lines(table: SampleTable, item_json: pa.Array, rows: np.ndarray) -> list[str]:
    """``samples.jsonl`` lines (``RerankSample.to_dict`` as ``json.dumps`` writes it) of the table rows ``rows``."""
    part = _rows(table, rows)
    k = part.candidates.shape[1]

    def items(codes: np.ndarray, lengths: np.ndarray) -> pa.Array:
        return pc.binary_join(list_array(item_json.take(pa.array(codes)), lengths), ", ")

    grades = part.grades or {}
    tails = [f"{json.dumps(list(grades[n]))}}}" if n in grades else "null}" for n in range(len(part))]
    line = pc.binary_join_element_wise(
        '{"sample_id": ',
        _json_strings(part.sample_ids),
        ', "user_id": ',
        _json_strings(part.user_ids),
        ', "split": "',
        pa.array(np.array(SPLITS, dtype=object)[part.splits], pa.string()),
        '", "history": [',
        items(part.histories.flat(), part.histories.lengths),
        '], "candidates": [',
        items(part.candidates.ravel(), np.full(len(part), k)),
        '], "targets": [',
        items(part.targets.flat(), part.targets.lengths),
        '], "grades": ',
        pa.array(tails, pa.string()),
        "",
    )
    return line.to_pylist()


def _plan(table: SampleTable, cat: Catalogue, keep_all: bool) -> tuple[np.ndarray, dict[str, dict[str, int]]]:
    """Which samples become RL rows, and per split: ``rows`` written, ``skipped_miss`` (target not among
    the candidates, without ``keep_all``), ``sid_collision`` (dropped: ambiguous ground truth)."""
    hit = table.target_positions() > 0
    collision = np.zeros(len(table), dtype=bool)
    for start in range(0, len(table), 20 * CHUNK_ROWS):
        rows = np.arange(start, min(start + 20 * CHUNK_ROWS, len(table)))
        collision[rows] = ambiguous(table, cat, rows)
    considered = hit | keep_all
    keep = considered & ~collision
    counts = {}
    for n, s in enumerate(SPLITS):
        split = table.splits == n
        counts[s] = {
            "rows": int((keep & split).sum()),
            "skipped_miss": int((~considered & split).sum()),
            "sid_collision": int((considered & collision & split).sum()),
        }
    return keep, counts


def write_outputs(
    samples: SampleTable | Sequence[RerankSample],
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
    ray: bool = False,
) -> dict[str, Any]:
    """Write every file of the dataset folder and return the summary (also saved as summary.json/.md).

    ``samples`` is a ``SampleTable`` (``build_samples``) or a list of ``RerankSample``; ``popularity`` is
    the training interaction count per item (``extra_info.candidate_popularity``); ``report`` (counts,
    pre-ranker metrics from the loading side) is copied into the summary. Rows are built and written a
    chunk at a time, so memory follows the chunk, not the dataset. ``ray``: build the RL rows as tasks on the
    Ray cluster ``ray.init`` connected to (``data_prep.distributed``); the files are the same.
    """
    out = Path(out_dir)
    if not len(samples):
        raise ValueError("no samples to write: every example was left out (see the counts above); nothing written")
    if isinstance(samples, SampleTable):
        table = samples
        _check_table(table, items, sid_map)
    else:
        check_coverage(samples, items, sid_map)
        table = SampleTable.from_samples(samples, list(items))
    cat = catalogue(items, sid_map, popularity, table)
    keep, rl_counts = _plan(table, cat, keep_all)
    if not keep.any():
        raise ValueError(
            f"no RL rows from {len(table)} samples ({_drops(rl_counts)}); nothing written. A sample becomes a row "
            "when its target is among its K candidates (--keep-all keeps misses) and its candidates' SIDs differ"
        )
    lines = [
        json.dumps({"item_id": i.item_id, "title": i.title, "categories": list(i.categories)}, ensure_ascii=False)
        for i in items.values()
    ]
    atomic_write_text(out / FILES["items"], "".join(x + "\n" for x in lines))
    sid_map.save(str(out / FILES["sid_map"]))
    item_json = _json_strings(pa.array(table.item_ids, pa.string()))

    def write_samples() -> None:
        with atomic_path(out / FILES["samples"]) as tmp, open(tmp, "w", encoding="utf-8") as f:
            for start in range(0, len(table), CHUNK_ROWS):
                rows = np.arange(start, min(start + CHUNK_ROWS, len(table)))
                f.write("".join(x + "\n" for x in _sample_lines(table, item_json, rows)))

    def write_sft() -> dict[str, int]:
        counts, chunks = midtrain_chunks(table, cat, seed=seed, general=general)
        with parquet_writer(out / FILES["sft_midtrain"], SFT_SCHEMA) as writer:
            for chunk in chunks:
                writer.write_table(chunk)
        return counts

    def write_rl() -> dict[str, list[list[dict[str, str]]]]:
        return _write_rl(table, cat, keep, out, dataset=dataset, seed=seed, shuffle=shuffle, hints=hints,
                         progress=progress, ray=ray)  # fmt: skip

    # The three big files at once: arrow kernels, parquet encoding and file writes release the GIL.
    with ThreadPoolExecutor(3) as pool:
        jobs = [pool.submit(write_samples), pool.submit(write_rl), pool.submit(write_sft)]
        _, prompts, sft_counts = (job.result() for job in jobs)

    hits = table.target_positions() > 0
    summary: dict[str, Any] = {
        "dataset": dataset,
        "settings": {"seed": seed, "shuffle": shuffle, "keep_all": keep_all, "hints": bool(hints)},
        **dict(report or {}),
        "samples": table.split_counts(),
        "target_in_candidates": table.split_counts(hits),
        "rl": rl_counts,
        "sft_midtrain": sft_counts,
        "sid_map": {"items": len(sid_map.codes), "uniqueness": round(sid_map.uniqueness(), 4)},
        "files": dict(FILES),
    }
    if prompt_stats:
        summary["prompt_tokens"] = prompt_length_stats(prompts, sid_map.vocabulary())
    atomic_write_text(out / FILES["summary_json"], json.dumps(summary, indent=2, sort_keys=True) + "\n")
    atomic_write_text(out / FILES["summary_md"], summary_markdown(summary))
    return summary


def _write_rl(
    table: SampleTable,
    cat: Catalogue,
    keep: np.ndarray,
    out: Path,
    *,
    dataset: str,
    seed: int,
    shuffle: bool,
    hints: str | None,
    progress: bool,
    ray: bool = False,
) -> dict[str, list[list[dict[str, str]]]]:
    """``rl/<split>.parquet``, a row group per chunk; returns the prompts ``picked_rows`` chooses per split.

    The RL rows are the longest of the three writers: chunks are built on ``RL_BUILDERS`` threads (arrow's
    string kernels release the GIL), or as Ray tasks with ``ray``, a few ahead of the writer, and written in order.
    """
    bar = tqdm(total=int(keep.sum()), desc="RL rows", unit="row", disable=not progress)
    prompts = {}
    options = {"dataset": dataset, "seed": seed, "shuffle": shuffle, "hints": hints}
    with ThreadPoolExecutor(RL_BUILDERS) as pool:
        if ray:
            from data_prep.distributed import rl_chunks_ray

            submit, ahead = rl_chunks_ray(table, cat, **options)
        else:
            submit, ahead = (lambda rows, index: pool.submit(rl_table, table, cat, rows, index, **options)), RL_BUILDERS
        for n, split in enumerate(SPLITS):
            rows = np.flatnonzero(keep & (table.splits == n))
            picked = picked_rows(len(rows), seed)
            found: dict[int, list[dict[str, str]]] = {}

            def build(start: int, rows: np.ndarray = rows) -> Future[pa.Table]:
                index = np.arange(start, min(start + CHUNK_ROWS, len(rows)))
                return submit(rows[index], index)

            starts = range(0, len(rows), CHUNK_ROWS)
            with parquet_writer(out / FILES[f"rl_{split}"], RL_SCHEMA) as writer:
                pending = deque(build(start) for start in starts[:ahead])
                for c, start in enumerate(starts):
                    chunk = pending.popleft().result()
                    if c + ahead < len(starts):
                        pending.append(build(starts[c + ahead]))
                    writer.write_table(chunk)
                    wanted = [i for i in picked if start <= i < start + len(chunk)]
                    taken = chunk.column("prompt").take(pa.array([i - start for i in wanted], pa.int64())).to_pylist()
                    found.update(zip(wanted, taken, strict=True))
                    bar.update(len(chunk))
            prompts[split] = [found[i] for i in picked]
    bar.close()
    return prompts


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
