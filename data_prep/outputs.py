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
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tqdm import tqdm

from data_prep.interactions import SPLITS
from data_prep.prompt_stats import picked_rows, prompt_length_stats
from data_prep.rl_parquet import Catalogue, ambiguous, catalogue, list_array, rl_table
from data_prep.sample_table import SampleShards, SampleTable
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
# samples turned into rows at once (a parquet row group): an RL chunk is ~45 MB (synthetic log, 20 history items),
# whatever the log size. On the 10M log: the RL writer alone peaked 0.9 GB higher at 50k than at 20k; the write
# phase peaked 2.06 GB at 10k against 2.2-2.4 GB at 20k, in the same time
CHUNK_ROWS = 10_000
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


def _check_shards(shards: SampleShards, items: Mapping[str, Item], sid_map: SidMap) -> None:
    """``check_coverage`` for tables: per item first; the samples are scanned only to name a culprit."""
    for item_id in items:
        if item_id not in sid_map.codes:
            raise ValueError(f"catalogue item '{item_id}' has no SID in the SID map")
    bad = [x for x in shards.item_ids.tolist() if x not in items or x not in sid_map.codes]
    for table in shards if bad else ():
        for start in range(0, len(table), CHUNK_ROWS):
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


def _sample_lines(table: SampleTable, item_json: pa.Array, rows: np.ndarray) -> memoryview:
    """``samples.jsonl`` lines (``RerankSample.to_dict`` as ``json.dumps`` writes it, each ending in a newline) of
    the table rows ``rows``, as UTF-8 bytes read from arrow's buffer: no Python string per line."""
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
        "\n",
        "",
    )
    offsets = np.frombuffer(line.buffers()[1], dtype=np.int32)[line.offset : line.offset + len(line) + 1]
    return memoryview(line.buffers()[2])[offsets[0] : offsets[-1]]


@dataclass(frozen=True)
class _Plan:
    """Which samples become RL rows (one mask per shard) and the counts per split for the summary: ``rl``
    (``rows`` written, ``skipped_miss``: target not among the candidates, without ``keep_all``,
    ``sid_collision``: dropped, ambiguous ground truth), ``samples`` and ``hits`` (target among the candidates)."""

    keep: list[np.ndarray]
    rl: dict[str, dict[str, int]]
    samples: dict[str, int]
    hits: dict[str, int]


def _plan(shards: SampleShards, cat: Catalogue, keep_all: bool) -> _Plan:
    """One pass over the shards: the RL rows and the counts, before anything is written."""
    keep = []
    counts = {s: {"rows": 0, "skipped_miss": 0, "sid_collision": 0} for s in SPLITS}
    samples, hits = dict.fromkeys(SPLITS, 0), dict.fromkeys(SPLITS, 0)
    for table in shards:
        hit = table.target_positions() > 0
        collision = np.zeros(len(table), dtype=bool)
        for start in range(0, len(table), 20 * CHUNK_ROWS):
            rows = np.arange(start, min(start + 20 * CHUNK_ROWS, len(table)))
            collision[rows] = ambiguous(table, cat, rows)
        considered = hit | keep_all
        keep.append(considered & ~collision)
        masks = {"rows": keep[-1], "skipped_miss": ~considered, "sid_collision": considered & collision}
        for name, mask in masks.items():
            for s, n in table.split_counts(mask).items():
                counts[s][name] += n
        for s, n in table.split_counts().items():
            samples[s] += n
        for s, n in table.split_counts(hit).items():
            hits[s] += n
    return _Plan(keep, counts, samples, hits)


def write_outputs(
    samples: SampleShards | SampleTable | Sequence[RerankSample],
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

    ``samples`` is ``SampleShards`` (``build_samples``), one ``SampleTable`` or a list of ``RerankSample``;
    ``popularity`` is the training interaction count per item (``extra_info.candidate_popularity``); ``report``
    (counts, pre-ranker metrics from the loading side) is copied into the summary. Shards are built when needed
    and rows are built and written a chunk at a time, so memory follows the shard and the chunk, not the
    dataset. ``ray``: build the RL rows as tasks on the Ray cluster ``ray.init`` connected to
    (``data_prep.distributed``); the files are the same.
    """
    out = Path(out_dir)
    if not len(samples):
        raise ValueError("no samples to write: every example was left out (see the counts above); nothing written")
    if isinstance(samples, SampleShards):
        shards = samples
    elif isinstance(samples, SampleTable):
        shards = SampleShards.of(samples)
    else:
        check_coverage(samples, items, sid_map)
        shards = SampleShards.of(SampleTable.from_samples(samples, list(items)))
    _check_shards(shards, items, sid_map)
    cat = catalogue(items, sid_map, popularity, shards.item_ids)
    plan = _plan(shards, cat, keep_all)
    rl_counts = plan.rl
    if not any(c["rows"] for c in rl_counts.values()):
        raise ValueError(
            f"no RL rows from {len(shards)} samples ({_drops(rl_counts)}); nothing written. A sample becomes a row "
            "when its target is among its K candidates (--keep-all keeps misses) and its candidates' SIDs differ"
        )
    lines = [
        json.dumps({"item_id": i.item_id, "title": i.title, "categories": list(i.categories)}, ensure_ascii=False)
        for i in items.values()
    ]
    atomic_write_text(out / FILES["items"], "".join(x + "\n" for x in lines))
    sid_map.save(str(out / FILES["sid_map"]))
    item_json = _json_strings(pa.array(shards.item_ids, pa.string()))

    def write_samples() -> None:
        with atomic_path(out / FILES["samples"]) as tmp, open(tmp, "wb") as f:
            for table in shards:
                for start in range(0, len(table), CHUNK_ROWS):
                    f.write(_sample_lines(table, item_json, np.arange(start, min(start + CHUNK_ROWS, len(table)))))

    def write_sft() -> dict[str, int]:
        counts, chunks = midtrain_chunks(shards, cat, seed=seed, general=general)
        with parquet_writer(out / FILES["sft_midtrain"], SFT_SCHEMA) as writer:
            for chunk in chunks:
                writer.write_table(chunk)
        return counts

    def write_rl() -> dict[str, list[list[dict[str, str]]]]:
        return _write_rl(shards, cat, plan, out, dataset=dataset, seed=seed, shuffle=shuffle, hints=hints,
                         progress=progress, ray=ray)  # fmt: skip

    # The three big files at once: arrow kernels, parquet encoding and file writes release the GIL.
    with ThreadPoolExecutor(3) as pool:
        jobs = [pool.submit(write_samples), pool.submit(write_rl), pool.submit(write_sft)]
        _, prompts, sft_counts = (job.result() for job in jobs)

    summary: dict[str, Any] = {
        "dataset": dataset,
        "settings": {"seed": seed, "shuffle": shuffle, "keep_all": keep_all, "hints": bool(hints)},
        **dict(report or {}),
        "samples": plan.samples,
        "target_in_candidates": plan.hits,
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
    shards: SampleShards,
    cat: Catalogue,
    plan: _Plan,
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
    string kernels release the GIL), or as Ray tasks with ``ray``, a few ahead of the writer, and written in
    order: shard by shard, each shard's rows of a split after the previous shard's.
    """
    bar = tqdm(total=sum(c["rows"] for c in plan.rl.values()), desc="RL rows", unit="row", disable=not progress)
    options = {"dataset": dataset, "seed": seed, "shuffle": shuffle, "hints": hints}
    picked = {s: picked_rows(plan.rl[s]["rows"], seed) for s in SPLITS}
    found: dict[str, dict[int, list[dict[str, str]]]] = {s: {} for s in SPLITS}
    with ExitStack() as stack:
        writers = {s: stack.enter_context(parquet_writer(out / FILES[f"rl_{s}"], RL_SCHEMA)) for s in SPLITS}
        submit: Callable[[SampleTable, np.ndarray, np.ndarray], Future[pa.Table]]
        if ray:
            from data_prep.distributed import rl_chunks_ray

            submit, ahead = rl_chunks_ray(cat, **options)
        else:
            pool = stack.enter_context(ThreadPoolExecutor(RL_BUILDERS))
            ahead = RL_BUILDERS

            def submit(table: SampleTable, rows: np.ndarray, index: np.ndarray) -> Future[pa.Table]:
                return pool.submit(rl_table, table, cat, rows, index, **options)

        def chunks() -> Iterator[tuple[str, int, Future[pa.Table]]]:
            """(split, number of its first row in the split file, the chunk being built), in file order."""
            done = dict.fromkeys(SPLITS, 0)
            for table, keep in zip(shards, plan.keep, strict=True):
                for n, split in enumerate(SPLITS):
                    rows = np.flatnonzero(keep & (table.splits == n))
                    for start in range(0, len(rows), CHUNK_ROWS):
                        index = done[split] + np.arange(start, min(start + CHUNK_ROWS, len(rows)))
                        yield split, int(index[0]), submit(table, rows[start : start + CHUNK_ROWS], index)
                    done[split] += len(rows)

        def write(split: str, first: int, job: Future[pa.Table]) -> None:
            chunk = job.result()
            writers[split].write_table(chunk)
            wanted = [i for i in picked[split] if first <= i < first + len(chunk)]
            taken = chunk.column("prompt").take(pa.array([i - first for i in wanted], pa.int64())).to_pylist()
            found[split].update(zip(wanted, taken, strict=True))
            bar.update(len(chunk))

        pending: deque[tuple[str, int, Future[pa.Table]]] = deque()
        for job in chunks():
            pending.append(job)
            if len(pending) > ahead:
                write(*pending.popleft())
        while pending:
            write(*pending.popleft())
    bar.close()
    return {s: [found[s][i] for i in picked[s]] for s in SPLITS}


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
