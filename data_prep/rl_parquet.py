"""Reranking samples -> veRL RL rows (schema: ``gr2_verl.rl_row``), one list per split.

Which samples become rows: by default only those whose target is among the candidates (GR2's
setting); ``keep_all`` also keeps misses (``target_in_candidates`` false) so end-to-end metrics can
count them. A sample whose candidates share a SID is always dropped (its ground truth would be
ambiguous) and counted as ``sid_collision``.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from typing import Any

from gr2_verl.prompts import SidCollisionError, build_messages, candidate_sids
from gr2_verl.rl_row import rl_record
from gr2_verl.types import GroundTruth, Item, RerankSample, SidMap

SPLITS = ("train", "val", "test")


def rl_row(
    sample: RerankSample,
    items: Mapping[str, Item],
    sid_map: SidMap,
    popularity: Mapping[str, int],
    *,
    dataset: str,
    index: int,
    shuffle_rng: random.Random | None = None,
    hints: str | None = None,
) -> dict[str, Any]:
    """One veRL row; SidCollisionError when the sample's ground truth would be ambiguous."""
    sids = candidate_sids(sample, sid_map)
    messages, shown_order = build_messages(sample, items, sid_map, shuffle_rng=shuffle_rng, hints=hints)
    truth = GroundTruth(
        candidates=tuple(sids),
        targets=tuple(sid_map.sid(t) for t in sample.targets),
        grades=None if sample.grades is None else tuple(sample.grades),
    )
    return rl_record(
        f"gr2/{dataset}",
        messages,
        truth,
        {
            "split": sample.split,
            "index": index,
            "sample_id": sample.sample_id,
            "user_id": sample.user_id,
            "target_in_candidates": sample.target_position > 0,
            "target_in_pos": sample.target_position,
            "shown_order": shown_order,
            "candidate_item_ids": list(sample.candidates),
            "candidate_popularity": [int(popularity.get(c, 0)) for c in sample.candidates],
        },
    )


def rl_rows(
    samples: Iterable[RerankSample],
    items: Mapping[str, Item],
    sid_map: SidMap,
    popularity: Mapping[str, int],
    *,
    dataset: str,
    seed: int = 0,
    shuffle: bool = False,
    keep_all: bool = False,
    hints: str | None = None,
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, dict[str, int]]]:
    """Rows per split, and counts per split: ``rows`` written, ``skipped_miss`` (target not among the
    candidates, without ``keep_all``), ``sid_collision`` (dropped: ambiguous ground truth).

    Shuffling uses one ``random.Random(f"{seed}:{sample_id}")`` per sample, so a row's prompt does not
    depend on which other samples are written.
    """
    rows: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
    counts = {s: {"rows": 0, "skipped_miss": 0, "sid_collision": 0} for s in SPLITS}
    for sample in samples:
        if sample.split not in rows:
            raise ValueError(
                f"sample '{sample.sample_id}': field 'split' must be one of {SPLITS}, got {sample.split!r}"
            )
        c = counts[sample.split]
        if sample.target_position == 0 and not keep_all:
            c["skipped_miss"] += 1
            continue
        rng = random.Random(f"{seed}:{sample.sample_id}") if shuffle else None
        try:
            row = rl_row(
                sample, items, sid_map, popularity, dataset=dataset, index=c["rows"], shuffle_rng=rng, hints=hints
            )
        except SidCollisionError:
            c["sid_collision"] += 1
            continue
        rows[sample.split].append(row)
        c["rows"] += 1
    return rows, counts
