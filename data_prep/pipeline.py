"""Interaction log -> reranking samples: k-core, ordering, leave-one-out, candidates, history cap.

``build_samples`` is everything between a loader and ``data_prep.outputs.write_outputs``. Candidates
come from the pre-ranker, or from the user's own lists (``GivenLists``, e.g. from a production ranker,
keyed by something the user has: a request id, (user, timestamp), ...). Every example left out or changed
because of a given list is counted by reason, with a few keys as examples, under ``report["given"]``; a
file whose keys match no example is an error, never an empty dataset.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from data_prep.candidate_store import CandidateStore
from data_prep.interactions import (
    SPLITS,
    CodedLog,
    Examples,
    ExampleSplits,
    Ragged,
    Sequences,
    item_popularity,
    k_core,
    leave_one_out,
    time_split,
    training_lengths,
    user_sequences,
)
from data_prep.preranker import (
    PopularityRanker,
    TransitionPreranker,
    candidate_lists,
    metrics_of_ranks,
    target_ranks,
    top_k,
)
from data_prep.sample_table import SampleShards, SampleTable
from gr2_verl.types import RerankSample

EXAMPLES_SHOWN = 3  # keys printed per drop reason: enough to spot a pattern, short enough to read
SHARD_EXAMPLES = 1_000_000  # examples per shard of the samples (whole users): ~100 MB of table at any log size


@dataclass
class GivenLists:
    """The user's own ranked candidate lists (``data_prep.custom.load_candidates``).

    ``key`` names what ties a list to an example (its target interaction): ``sample_id``, ``request_id``,
    ``user_id+timestamp`` (keys are ``(user, unix seconds)``) or ``user_id+item_id`` (``(user, item)``).
    ``labels`` (optional, one grade per candidate) makes every candidate with a grade > 0 a positive.
    """

    key: str
    lists: dict[Any, list[str]]
    labels: dict[Any, list[float]] | None = None
    source: str = "candidates"


@dataclass
class _Given:
    """Candidates (item indices, -1 = dropped), positives per example where labels set them, and the report."""

    cands: np.ndarray
    positives: dict[int, tuple[list[str], list[float]]] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)


@dataclass
class Prepared:
    """What ``build_samples`` hands to ``write_outputs``."""

    shards: SampleShards  # all splits, pre-ranker misses included, a shard of users at a time
    popularity: dict[str, int]  # training interactions per item (no validation or test target)
    report: dict[str, Any]  # log counts and candidate metrics, copied into summary.json

    @property
    def item_ids(self) -> list[str]:
        """The catalogue after k-core filtering, sorted."""
        return self.shards.item_ids.tolist()

    @property
    def table(self) -> SampleTable:
        """Every sample in one table (small data; ``write_outputs`` takes ``shards``)."""
        return self.shards.whole()

    @property
    def samples(self) -> list[RerankSample]:
        """The samples as ``RerankSample`` objects (small data: ~1 KB each; writers take ``table``)."""
        return self.table.to_samples()


def build_samples(
    log: CodedLog | pd.DataFrame,
    *,
    min_interactions: int = 5,
    max_history: int = 20,
    k: int = 10,
    folds: int = 5,
    seed: int = 0,
    given: GivenLists | None = None,
    split_at: tuple[int, int] | None = None,
    progress: bool = False,
    ray: bool = False,
    scratch: str | Path | None = None,
) -> Prepared:
    """Samples, training popularity and a report (see ``Prepared``).

    The report holds log counts and Recall@K / NDCG@K of the candidates and of popularity per split
    (popularity on validation and test only: its training figures would need fold models too).
    ``split_at`` = (validation start, test start) in Unix seconds: a global time split instead of leave-one-out.
    A DataFrame log (``user_id, item_id, timestamp [, request_id]``, the loaders' form) is coded first.
    ``ray``: score the pre-ranker's candidates on the Ray cluster ``ray.init`` connected to
    (``data_prep.distributed``); the samples are the same. ``scratch``: the folder for the candidates' files
    (~40 bytes an example, ``CandidateStore``) until the samples are written, and for each pre-ranker fit's
    forward counts while it runs (8 bytes per distinct item transition); default the system's temp folder.
    """
    if isinstance(log, pd.DataFrame):
        log = CodedLog.from_frame(log)
    raw = len(log)
    filtered = k_core(log, min_interactions)
    del log  # the raw log's arrays (16 bytes an interaction) go before the sequences are sorted (a caller's stay)
    sequences, examples, train_lengths = split_sequences(filtered, split_at)
    seqs, item_ids = sequences.items, filtered.item_ids
    user_ids = pa.array(filtered.user_ids, pa.string())  # ~10 bytes a user; Python strings take ~65
    n_items = len(item_ids)
    report: dict[str, Any] = {
        "log": {
            "interactions_raw": raw,
            "interactions": int(len(filtered)),
            "users": len(seqs),
            "items": n_items,
            "k_core": min_interactions,
            "max_history": max_history,
            "k": k,
        }
    }
    # given lists are in memory anyway (small data): their examples are made once, for the keys and the targets
    every = None if given is None else examples.rows(0, len(examples))
    keys = None if every is None else _example_keys(every, filtered, sequences, given)
    train_counts = training_lengths(sequences, train_lengths)
    del filtered, sequences  # from here on only the item sequences: the k-cored log's own arrays go
    if given is None:
        if ray:
            from data_prep.distributed import candidate_lists_ray

            store = candidate_lists_ray(
                seqs, examples, n_items, k=k, folds=folds, seed=seed, train_lengths=train_lengths, folder=scratch
            )
        else:
            store = candidate_lists(seqs, examples, n_items, k=k, folds=folds, seed=seed, progress=progress,
                                    train_lengths=train_lengths, folder=scratch)  # fmt: skip
        name, positives = "item-transition", {}
    else:
        index = {x: i for i, x in enumerate(item_ids.tolist())}
        targets = seqs.values[seqs.starts[every.users] + every.positions]
        chosen = _given_candidates(targets, given, keys, index, k)
        store, positives, report["given"] = CandidateStore.of(chosen.cands, scratch), chosen.positives, chosen.report
        name = "given lists"  # metrics over the samples that have a list
        del every, targets, chosen
    bounds = examples.runs(SHARD_EXAMPLES)
    bounds = bounds if len(bounds) > 1 else [0, 0]  # no example: one empty shard
    popular = PopularityRanker().fit(seqs.prefixes(train_counts), n_items)
    metrics, sizes = _candidate_metrics(examples, store, seqs, bounds, popular, k)
    report["preranker"] = {
        "name": name,
        "settings": TransitionPreranker().settings() | {"folds": folds} if given is None else {},
        "metrics": {name: metrics["candidates"], "popularity": metrics["popularity"]},
    }
    shards = _shards(examples, store, bounds, sizes, item_ids, user_ids, seqs, max_history, positives)
    report["log"]["examples_without_k_candidates"] = len(examples) - len(shards)
    if split_at is not None:
        report["log"]["split_at"] = list(split_at)
    counts = item_popularity(seqs.prefixes(train_counts), n_items)
    popularity = dict(zip(item_ids[counts > 0].tolist(), counts[counts > 0].tolist(), strict=True))
    return Prepared(shards, popularity, report)


def split_log(
    log: CodedLog, min_interactions: int, split_at: tuple[int, int] | None = None
) -> tuple[CodedLog, Sequences, ExampleSplits, np.ndarray | None]:
    """k-core log, user sequences, examples (leave-one-out or time split) and the time split's training lengths.

    The cheap first half of ``build_samples``: ``gr2 prepare --check`` counts examples with it in seconds.
    """
    filtered = k_core(log, min_interactions)
    return filtered, *split_sequences(filtered, split_at)


def split_sequences(
    filtered: CodedLog, split_at: tuple[int, int] | None = None
) -> tuple[Sequences, ExampleSplits, np.ndarray | None]:
    """``split_log`` after k-core: user sequences, examples and the time split's training lengths."""
    sequences = user_sequences(filtered)
    if split_at is None:
        return sequences, leave_one_out(sequences), None
    return sequences, *time_split(sequences, filtered.timestamps, *split_at)


def _sample_id(user_ids: np.ndarray, examples: Examples, n: int) -> str:
    return f"{user_ids[examples.users[n]]}:{examples.positions[n]}"


def _example_keys(examples: Examples, log: CodedLog, sequences: Sequences, given: GivenLists) -> list[Any]:
    """Each example's key in ``given.key``'s form, read from its target interaction."""
    users = log.user_ids
    if given.key == "sample_id":
        return [_sample_id(users, examples, n) for n in range(len(examples))]
    row = sequences.rows[sequences.items.starts[examples.users] + examples.positions]  # the target's log row
    if given.key == "user_id+item_id":
        return list(zip(users[examples.users].tolist(), log.item_ids[log.items[row]].tolist(), strict=True))
    if given.key == "user_id+timestamp":
        return list(zip(users[examples.users].tolist(), log.timestamps[row].tolist(), strict=True))
    if log.request_ids is None:
        raise ValueError(
            f"{given.source}: lists are keyed by request_id; the interactions file has no 'request_id' field"
        )
    return log.request_ids.take(pa.array(row)).to_pylist()


def _given_candidates(
    targets: np.ndarray, given: GivenLists, keys: list[Any], index: Mapping[str, int], k: int
) -> _Given:
    """The given lists as item indices (first K, -1 where an example is dropped) and what happened to each.

    Dropped: no list, a list shorter than K, an item outside the catalogue (unknown or removed by k-core),
    labels without a positive. Kept but reported: lists cut to K, targets not in their list (pre-ranker misses).
    """
    out = _Given(cands=np.full((len(keys), k), -1, dtype=np.int64))
    reasons: dict[str, list[str]] = {
        r: [] for r in ("no_list", "short_list", "unknown_items", "no_positive", "truncated_to_k", "target_not_in_list")
    }
    used = set()
    for row, key in enumerate(keys):
        lst = given.lists.get(key)
        if lst is None:
            reasons["no_list"].append(_show(key))
            continue
        used.add(key)
        if len(lst) < k:
            reasons["short_list"].append(f"{_show(key)} ({len(lst)} items)")
            continue
        unknown = [x for x in lst[:k] if x not in index]
        if unknown:
            reasons["unknown_items"].append(f"{_show(key)} ({', '.join(unknown[:3])})")
            continue
        if len(lst) > k:
            reasons["truncated_to_k"].append(f"{_show(key)} ({len(lst)} items)")
        if given.labels is not None:
            grades = given.labels[key][:k]
            ranked = sorted((i for i, g in enumerate(grades) if g > 0), key=lambda i: -grades[i])  # stable: list order
            if not ranked:
                reasons["no_positive"].append(_show(key))
                continue
            out.positives[row] = ([lst[i] for i in ranked], grades)
        out.cands[row] = [index[x] for x in lst[:k]]
        if given.labels is None and targets[row] not in out.cands[row]:
            reasons["target_not_in_list"].append(_show(key))
    if not used:
        raise ValueError(
            f"{given.source}: no candidate list matches a sample. Lists are keyed by {given.key}, "
            f"e.g. {', '.join(_show(x) for x in list(given.lists)[:EXAMPLES_SHOWN])}; the samples' keys look like "
            f"{', '.join(_show(x) for x in keys[:EXAMPLES_SHOWN])}. Key a list by sample_id (<user_id>:<n>), "
            "request_id, user_id + timestamp or user_id + item_id of its target interaction (data_prep/README.md)"
        )
    unused = [_show(x) for x in given.lists if x not in used]
    out.report = {
        "key": given.key,
        "lists": len(given.lists),
        "lists_used": len(used),
        "lists_matching_no_sample": len(unused),
        **{reason: len(found) for reason, found in reasons.items()},
        "examples": {
            r: found[:EXAMPLES_SHOWN] for r, found in {**reasons, "lists_matching_no_sample": unused}.items() if found
        },
    }
    return out


def _show(key: Any) -> str:
    return "(" + ", ".join(str(v) for v in key) + ")" if isinstance(key, tuple) else str(key)


def _candidate_metrics(
    examples: ExampleSplits, store: CandidateStore, seqs: Ragged, bounds: list[int], popular: PopularityRanker, k: int
) -> tuple[dict[str, dict[str, dict[str, float]]], tuple[int, ...]]:
    """Recall@K / NDCG@K per split of the stored candidates (examples with K of them) and of popularity
    (validation and test examples), and how many examples of each shard have K candidates: one pass over the
    shards, keeping each example's target rank (2 bytes) and split."""
    ours: list[tuple[np.ndarray, np.ndarray]] = []
    theirs: list[tuple[np.ndarray, np.ndarray]] = []
    sizes = []
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        cands = store.rows(a, b)
        part = examples.rows(a, b)
        users, positions, splits = part.users, part.positions, part.splits
        targets = seqs.values[seqs.starts[users] + positions]
        complete = (cands >= 0).all(axis=1)
        sizes.append(int(complete.sum()))
        ours.append((target_ranks(cands[complete], targets[complete]).astype(np.int16), splits[complete]))
        held = np.flatnonzero(splits != 0)
        by_popularity = top_k(popular, Ragged(seqs.values, seqs.starts[users[held]], positions[held]), k)
        theirs.append((target_ranks(by_popularity, targets[held]).astype(np.int16), splits[held]))
    return {"candidates": _split_metrics(ours, k), "popularity": _split_metrics(theirs, k)}, tuple(sizes)


def _split_metrics(parts: list[tuple[np.ndarray, np.ndarray]], k: int) -> dict[str, dict[str, float]]:
    """Metrics per split from (target ranks, splits) of every shard."""
    ranks = np.concatenate([r for r, _ in parts]) if parts else np.zeros(0, dtype=np.int16)
    splits = np.concatenate([s for _, s in parts]) if parts else np.zeros(0, dtype=np.int8)
    return {s: metrics_of_ranks(ranks[splits == n], k) for n, s in enumerate(SPLITS) if (splits == n).any()}


def _shards(
    examples: ExampleSplits,
    store: CandidateStore,
    bounds: list[int],
    sizes: tuple[int, ...],
    item_ids: np.ndarray,
    user_ids: pa.StringArray,
    seqs: Ragged,
    max_history: int,
    positives: Mapping[int, tuple[list[str], list[float]]],
) -> SampleShards:
    """The samples as shards of whole users, ``bounds`` apart, ``sizes[s]`` samples in shard ``s``.

    A shard is built when asked for from its examples (made from the sequences' split codes), the sequences and
    the stored candidates (read back from disk), so the sample table (~100 bytes a sample) never exists all at once.
    """

    def build(s: int) -> SampleTable:
        a, b = bounds[s], bounds[s + 1]
        part = examples.rows(a, b)
        mine = {n - a: p for n, p in positives.items() if a <= n < b}
        return _table(part, store.rows(a, b), item_ids, user_ids, seqs, max_history, mine)

    return SampleShards(item_ids, sizes, build)


def _table(
    examples: Examples,
    cands: np.ndarray,
    item_ids: np.ndarray,
    user_ids: pa.StringArray,
    seqs: Ragged,
    max_history: int,
    positives: Mapping[int, tuple[list[str], list[float]]],
) -> SampleTable:
    """One sample per example with K candidates; ``positives`` (labelled lists) replace the single target."""
    kept = np.flatnonzero((cands >= 0).all(axis=1))
    users, positions = examples.users[kept], examples.positions[kept]
    shown = np.minimum(positions, max_history)
    histories = Ragged(seqs.values, seqs.starts[users] + positions - shown, shown)
    targets = Ragged(seqs.values, seqs.starts[users] + positions, np.ones(len(kept), dtype=np.int64))
    grades = None
    if positives:
        index = {x: i for i, x in enumerate(item_ids.tolist())}
        rows = [np.array([index[x] for x in positives[n][0]]) if n in positives else targets.row(j)
                for j, n in enumerate(kept)]  # fmt: skip
        targets = Ragged.from_rows(rows)
        grades = {j: list(positives[n][1]) for j, n in enumerate(kept) if n in positives}
    names = user_ids.take(pa.array(users))
    sample_ids = pc.binary_join_element_wise(names, pc.cast(pa.array(positions), pa.string()), ":")
    return SampleTable(
        item_ids=item_ids,
        sample_ids=sample_ids,
        user_ids=names,
        splits=examples.splits[kept],
        histories=histories,
        candidates=cands[kept].astype(np.int32, copy=False),
        targets=targets,
        grades=grades,
    )
