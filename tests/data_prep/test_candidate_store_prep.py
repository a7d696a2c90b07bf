"""The candidates' files: rows written a model group at a time come back a range of examples at a time."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from data_prep.candidate_store import CandidateStore
from data_prep.pipeline import build_samples
from data_prep.synthetic import synthetic_log


def _filled(groups: np.ndarray, cands: np.ndarray, folder=None) -> CandidateStore:
    """Each group's rows appended in example order, in chunks of uneven sizes (as the pre-ranker writes them)."""
    store = CandidateStore(groups, cands.shape[1], folder)
    for g in np.unique(groups).tolist():
        mine = np.flatnonzero(groups == g)
        for chunk in np.array_split(mine, [3, 4, 50, 51, 300]):
            store.append(g, cands[chunk])
    return store


def test_ranges_of_examples_read_back_the_rows_written_by_group():
    rng = np.random.default_rng(0)
    groups = rng.integers(-1, 4, size=1000)
    cands = rng.integers(-1, 5000, size=(1000, 7)).astype(np.int32)
    store = _filled(groups, cands)
    assert (store.whole() == cands).all()
    for a, b in [(0, 1), (0, 999), (17, 18), (250, 760), (999, 1000), (500, 500)]:
        assert (store.rows(a, b) == cands[a:b]).all(), (a, b)


def test_a_group_not_written_to_the_end_is_an_error():
    groups = np.array([0, 1, 0, 1, 0])
    store = CandidateStore(groups, 2)
    store.append(0, np.zeros((3, 2), dtype=np.int32))
    store.append(1, np.zeros((1, 2), dtype=np.int32))
    assert store.rows(0, 3).shape == (3, 2)
    with pytest.raises(RuntimeError, match="model group 1: 1 rows written, 2 needed"):
        store.rows(2, 5)
    with pytest.raises(ValueError, match="holds 2 per example"):
        store.append(0, np.zeros((1, 3), dtype=np.int32))


def test_the_files_live_in_the_scratch_folder_until_the_samples_go(tmp_path):
    log, _ = synthetic_log(60, 40, 10, seed=1)
    prepared = build_samples(log, scratch=tmp_path)
    (folder,) = tmp_path.glob(".gr2-candidates-*")
    files = sorted(p.name for p in folder.iterdir())
    assert files == ["group-1.int32", *(f"group{g}.int32" for g in range(5))]  # held-out + five folds
    examples = len(prepared.shards) + prepared.report["log"]["examples_without_k_candidates"]
    assert sum(p.stat().st_size for p in folder.iterdir()) == examples * 10 * 4  # K int32 codes an example
    del prepared
    gc.collect()
    assert not folder.exists()
