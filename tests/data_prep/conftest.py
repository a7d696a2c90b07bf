"""A small synthetic dataset folder written once per session through the real pipeline."""

from __future__ import annotations

import pytest

from data_prep.outputs import write_outputs
from data_prep.pipeline import build_samples
from data_prep.synthetic import sequential_sid_map, synthetic_log

DATASET = "synthetic"


def write_small(
    out_dir, *, seed: int = 0, keep_all: bool = False, shuffle: bool = True, sid_map=None, prompt_stats: bool = False
):
    """Prepare 40 users x 10 interactions over 60 items; returns (summary, prepared, items, sid_map)."""
    log, items = synthetic_log(40, 60, 10, seed=1)
    prepared = build_samples(log, min_interactions=3, max_history=8, k=10, seed=seed)
    catalogue = {i: items[i] for i in prepared.item_ids}
    sid_map = sid_map or sequential_sid_map(prepared.item_ids, levels=3, codebook_size=16)
    summary = write_outputs(
        prepared.samples,
        catalogue,
        sid_map,
        out_dir,
        dataset=DATASET,
        popularity=prepared.popularity,
        seed=seed,
        shuffle=shuffle,
        keep_all=keep_all,
        hints="Buyers of an item often buy its successors.",
        report=prepared.report,
        prompt_stats=prompt_stats,
    )
    return summary, prepared, catalogue, sid_map


@pytest.fixture(scope="session")
def small_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("small")
    write_small(out)
    return out


@pytest.fixture(scope="session")
def make_small():
    """The ``write_small`` function, for tests that need their own variant of the folder."""
    return write_small
