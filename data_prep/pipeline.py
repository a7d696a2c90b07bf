"""Interaction log -> reranking samples: k-core, ordering, leave-one-out, candidates, history cap.

``build_samples`` is everything between a loader and ``data_prep.outputs.write_outputs``. Candidates
come from the pre-ranker, or from the user's own lists (``given``: sample id -> ranked item ids,
e.g. from a production ranker); examples without a given list are left out and counted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from data_prep.interactions import Example, item_popularity, k_core, leave_one_out, training_sequences, user_sequences
from data_prep.preranker import PopularityRanker, TransitionPreranker, candidate_lists, recall_ndcg
from gr2_verl.types import RerankSample


def _metrics(cands: np.ndarray, targets: np.ndarray, splits: np.ndarray, k: int) -> dict[str, dict[str, float]]:
    return {
        s: recall_ndcg(cands[splits == s], targets[splits == s], k)
        for s in ("train", "val", "test")
        if (splits == s).any()
    }


@dataclass
class Prepared:
    """What ``build_samples`` hands to ``write_outputs``."""

    samples: list[RerankSample]  # all splits, pre-ranker misses included
    item_ids: list[str]  # the catalogue after k-core filtering, sorted
    popularity: dict[str, int]  # training interactions per item (no validation or test target)
    report: dict[str, Any]  # log counts and candidate metrics, copied into summary.json


def build_samples(
    log: pd.DataFrame,
    *,
    min_interactions: int = 5,
    max_history: int = 20,
    k: int = 10,
    folds: int = 5,
    seed: int = 0,
    given: Mapping[str, list[str]] | None = None,
    progress: bool = False,
) -> Prepared:
    """Samples, catalogue, training popularity and a report (see ``Prepared``).

    The report holds log counts and Recall@K / NDCG@K of the candidates and of popularity per split
    (popularity on validation and test only: its training figures would need fold models too).
    """
    filtered = k_core(log, min_interactions)
    sequences = user_sequences(filtered)
    examples = leave_one_out(sequences)
    item_ids = sorted(filtered["item_id"].unique().tolist())
    index = {item: i for i, item in enumerate(item_ids)}
    seq_idx = {u: np.fromiter((index[x] for x in s), dtype=np.int64, count=len(s)) for u, s in sequences.items()}
    targets = np.array([seq_idx[e.user_id][e.position] for e in examples], dtype=np.int64)
    splits = np.array([e.split for e in examples])

    report: dict[str, Any] = {
        "log": {
            "interactions_raw": int(len(log)),
            "interactions": int(len(filtered)),
            "users": len(sequences),
            "items": len(item_ids),
            "k_core": min_interactions,
            "max_history": max_history,
            "k": k,
        }
    }
    if given is None:
        cands = candidate_lists(seq_idx, examples, len(item_ids), k=k, folds=folds, seed=seed, progress=progress)
        name, complete = "item-transition", np.ones(len(examples), dtype=bool)
    else:
        cands = _given_candidates(examples, given, index, k)
        name, complete = "given lists", (cands >= 0).all(axis=1)  # metrics over the samples that have a list
    evaluated = np.array([e.split != "train" for e in examples])
    popular = candidate_lists(
        seq_idx, [e for e in examples if e.split != "train"], len(item_ids), k=k, ranker=PopularityRanker
    )
    report["preranker"] = {
        "name": name,
        "settings": TransitionPreranker().settings() | {"folds": folds} if given is None else {},
        "metrics": {
            name: _metrics(cands[complete], targets[complete], splits[complete], k),
            "popularity": _metrics(popular, targets[evaluated], splits[evaluated], k),
        },
    }

    samples, short = _samples(examples, cands, sequences, item_ids, max_history, k)
    report["log"]["examples_without_k_candidates"] = short
    return Prepared(samples, item_ids, item_popularity(training_sequences(sequences)), report)


def _given_candidates(
    examples: list[Example], given: Mapping[str, list[str]], index: Mapping[str, int], k: int
) -> np.ndarray:
    """The user's lists as item indices (first K); -1 marks no list, a short list or an unknown item."""
    cands = np.full((len(examples), k), -1, dtype=np.int64)
    for row, ex in enumerate(examples):
        lst = given.get(ex.sample_id)
        if lst is not None:
            cands[row, : len(lst[:k])] = [index.get(x, -1) for x in lst[:k]]
    return cands


def _samples(
    examples: list[Example],
    cands: np.ndarray,
    sequences: dict[str, list[str]],
    item_ids: list[str],
    max_history: int,
    k: int,
) -> tuple[list[RerankSample], int]:
    samples, short = [], 0
    for ex, row in zip(examples, cands, strict=True):
        if (row < 0).any():
            short += 1
            continue
        seq = sequences[ex.user_id]
        samples.append(
            RerankSample(
                sample_id=ex.sample_id,
                user_id=ex.user_id,
                split=ex.split,
                history=seq[: ex.position][-max_history:],
                candidates=[item_ids[i] for i in row],
                targets=[seq[ex.position]],
            )
        )
    return samples, short
