"""The heavy parts of ``gr2 prepare`` on a Ray cluster, with the single-machine results: the pre-ranker's
candidates (Ray Data, as ``preranker.candidate_lists`` gives them) and the RL rows (Ray tasks, as
``rl_parquet.rl_table`` builds them).

Why Ray: veRL already runs on it (its trainer is a Ray job), so a cluster that trains can prepare data with
no new service; Ray Data streams blocks between workers and spills to storage when memory runs short.

Partitioning: a block is a run of consecutive users (about ``BLOCK_EXAMPLES`` examples) with their whole
sequences and every example of them, so a worker needs nothing else of the log; the driver builds one block
at a time and puts it in the object store. The fold models (a global aggregation over all users' training
interactions) are fitted as Ray tasks, one per fold, and shared through the object store; each block is then
scored by ``top_k`` where it lives. Blocks come back in order (Ray Data's ``preserve_order``) and the driver
appends each model group's rows to the ``CandidateStore`` files, so the candidates are the single-machine
ones (scores do not depend on which rows are scored together) and never all in the driver's memory.

RL rows: the catalogue and each shard's sample table go to the object store once; each chunk of rows is a
task, and the driver writes the chunks in order into one parquet file per split (``outputs.write_outputs``),
so the files are the ones a run without Ray writes.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from data_prep.candidate_store import CandidateStore
from data_prep.interactions import Examples, ExampleSplits, Ragged
from data_prep.preranker import PopularityRanker, TransitionPreranker, fold_plan, top_k
from data_prep.rl_parquet import Catalogue, rl_table
from data_prep.sample_table import SampleTable

# a finished chunk (~45 MB at outputs.CHUNK_ROWS) waits in the driver's memory for its turn to be written
RL_CHUNKS_AHEAD = 8
BLOCK_EXAMPLES = 250_000  # examples a Ray Data block scores (~10 MB of candidates): the unit of work per worker


def _fit(ranker: type[TransitionPreranker] | type[PopularityRanker], train: Ragged, users: np.ndarray, n_items: int):
    return ranker().fit(train.take(users), n_items)


def _score(batch: pa.Table, models: dict[int, Any], k: int) -> pa.Table:
    """One block of users: every example's candidates, by its model group's model, and the group.

    ``models`` maps a group to the object-store reference of its fitted model: fetched here, where the block
    is, so the models never pass through the driver or ride along in the pickled function (~800 MB at 10M).
    """
    import ray

    lengths = np.asarray(pc.list_value_length(batch.column("sequence")), dtype=np.int64)
    seqs = Ragged(
        np.asarray(batch.column("sequence").combine_chunks().flatten(), dtype=np.int64),
        np.cumsum(lengths) - lengths,
        lengths,
    )
    n_examples = np.asarray(pc.list_value_length(batch.column("positions")), dtype=np.int64)
    owner = np.repeat(np.arange(len(lengths)), n_examples)
    positions = np.asarray(batch.column("positions").combine_chunks().flatten(), dtype=np.int64)
    groups = np.asarray(batch.column("groups").combine_chunks().flatten(), dtype=np.int16)
    out = np.full((len(positions), k), -1, dtype=np.int32)
    for g in np.unique(groups).tolist():
        rows = np.flatnonzero(groups == g)
        histories = Ragged(seqs.values, seqs.starts[owner[rows]], positions[rows])
        out[rows] = top_k(ray.get(models[g]), histories, k)
    return pa.table({"group": groups, "candidates": pa.FixedSizeListArray.from_arrays(pa.array(out.ravel()), k)})


def candidate_lists_ray(
    sequences: Ragged,
    examples: Examples | ExampleSplits,
    n_items: int,
    k: int = 10,
    folds: int = 5,
    seed: int = 0,
    ranker: type[TransitionPreranker] | type[PopularityRanker] = TransitionPreranker,
    train_lengths: np.ndarray | None = None,
    folder: str | Path | None = None,
) -> CandidateStore:
    """``preranker.candidate_lists`` on the Ray cluster ``ray.init`` connected to (see the module docstring)."""
    import ray

    n_users = len(sequences)
    train, fold_of, group = fold_plan(sequences, examples, folds, seed, train_lengths)
    train_ref = ray.put(train)
    fit = ray.remote(_fit)
    refs = {int(g): fit.remote(ranker, train_ref, np.flatnonzero(fold_of != g) if g >= 0 else np.arange(n_users),
                               n_items) for g in np.unique(group)}  # fmt: skip
    bounds = examples.runs(BLOCK_EXAMPLES)
    blocks = [ray.put(_block(sequences, examples.rows(a, b), group[a:b]))
              for a, b in zip(bounds[:-1], bounds[1:], strict=True)]  # fmt: skip
    context = ray.data.DataContext.get_current()
    keep_order, context.execution_options.preserve_order = context.execution_options.preserve_order, True
    try:
        dataset = ray.data.from_arrow_refs(blocks).map_batches(
            _score, batch_format="pyarrow", batch_size=None, fn_kwargs={"models": refs, "k": k}
        )
        store = CandidateStore(group, k, folder)
        for batch in dataset.iter_batches(batch_format="pyarrow", batch_size=None):
            found = np.asarray(batch.column("candidates").combine_chunks().flatten(), dtype=np.int32).reshape(-1, k)
            groups = np.asarray(batch.column("group"))
            for g in np.unique(groups).tolist():  # blocks come in order: each group's rows in example order
                store.append(g, found[groups == g])
    finally:
        context.execution_options.preserve_order = keep_order
    return store


def _block(sequences: Ragged, examples: Examples, group: np.ndarray) -> pa.Table:
    """Examples of whole users as one row per user: the whole sequence, the examples' positions and groups."""
    users, counts = np.unique(examples.users, return_counts=True)
    offsets = pa.array(np.r_[0, np.cumsum(counts)].astype(np.int32))
    seq = Ragged(sequences.values, sequences.starts[users], sequences.lengths[users])
    seq_offsets = pa.array(np.r_[0, np.cumsum(seq.lengths)].astype(np.int32))
    return pa.table(
        {
            "sequence": pa.ListArray.from_arrays(seq_offsets, pa.array(seq.flat())),
            "positions": pa.ListArray.from_arrays(offsets, pa.array(examples.positions)),
            "groups": pa.ListArray.from_arrays(offsets, pa.array(group)),
        }
    )


def rl_chunks_ray(
    cat: Catalogue, **options: Any
) -> tuple[Callable[[SampleTable, np.ndarray, np.ndarray], Future[pa.Table]], int]:
    """``rl_table(table, cat, rows, index, **options)`` as a Ray task: returns ``submit(table, rows, index)`` (a
    future of the chunk) and how many chunks to keep in flight (one per cluster CPU, at most ``RL_CHUNKS_AHEAD``).
    Each shard's table goes to the object store once, with its first chunk."""
    import ray

    build = ray.remote(rl_table)
    cat_ref = ray.put(cat)
    stored: dict[int, Any] = {}  # id of the shard's table -> its object ref (one shard at a time)

    def submit(table: SampleTable, rows: np.ndarray, index: np.ndarray) -> Future[pa.Table]:
        if id(table) not in stored:
            stored.clear()
            stored[id(table)] = ray.put(table)
        return build.remote(stored[id(table)], cat_ref, rows, index, **options).future()

    return submit, max(1, min(RL_CHUNKS_AHEAD, int(ray.cluster_resources().get("CPU", 1))))
