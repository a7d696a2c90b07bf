"""The pre-ranker: beats popularity, never leaks a target, never proposes a seen item."""

from __future__ import annotations

import numpy as np
import pytest

from data_prep import movielens
from data_prep.interactions import leave_one_out, user_sequences
from data_prep.pipeline import build_samples
from data_prep.preranker import PopularityRanker, TransitionPreranker, candidate_lists, recall_ndcg, top_k
from data_prep.synthetic import synthetic_log


def _indexed(log):
    seqs = user_sequences(log)
    ids = sorted(log["item_id"].unique())
    index = {x: i for i, x in enumerate(ids)}
    return {u: np.array([index[x] for x in s]) for u, s in seqs.items()}, len(ids)


def test_top_k_excludes_history_and_orders_ties_by_index():
    model = PopularityRanker(popularity=np.array([5, 5, 9, 1, 0], dtype=np.float32))
    out = top_k(model, [np.array([2]), np.array([0, 1, 2, 3])], k=3)
    assert out[0].tolist() == [0, 1, 3]
    assert out[1].tolist() == [4, -1, -1]  # only one unseen item: padded


def test_transition_model_beats_popularity_on_a_log_with_order():
    log, _ = synthetic_log(300, 200, 15, seed=3)
    seqs, n = _indexed(log)
    examples = [e for e in leave_one_out({u: list(s) for u, s in seqs.items()}) if e.split == "test"]
    targets = np.array([seqs[e.user_id][e.position] for e in examples])
    ours = recall_ndcg(candidate_lists(seqs, examples, n), targets)["recall@10"]
    popular = recall_ndcg(candidate_lists(seqs, examples, n, ranker=PopularityRanker), targets)["recall@10"]
    assert ours > 2 * popular


def test_training_targets_never_rank_themselves():
    """Changing a user's future (their own targets) must not change the candidates of their training examples."""
    log, _ = synthetic_log(50, 40, 12, seed=5)
    seqs, n = _indexed(log)
    user = sorted(seqs)[0]
    examples = [e for e in leave_one_out({u: list(s) for u, s in seqs.items()}) if e.user_id == user]
    before = candidate_lists(seqs, examples, n)
    changed = dict(seqs)
    pos = examples[0].position
    changed[user] = np.concatenate([seqs[user][:pos], seqs[user][pos:][::-1]])  # same items, future reordered
    after = candidate_lists(changed, examples[:1], n)
    assert (before[:1] == after).all()


def test_test_targets_never_reach_the_model():
    """Replacing every user's last item changes no test candidate list (only their targets)."""
    log, _ = synthetic_log(50, 40, 12, seed=6)
    seqs, n = _indexed(log)
    tests = [e for e in leave_one_out({u: list(s) for u, s in seqs.items()}) if e.split == "test"]
    before = candidate_lists(seqs, tests, n)
    swapped = {}
    for u, s in seqs.items():
        unseen = [i for i in range(n) if i not in set(s[:-1])]
        swapped[u] = np.concatenate([s[:-1], [unseen[-1]]])
    assert (candidate_lists(swapped, tests, n) == before).all()


@pytest.fixture(scope="module")
def ml100k():
    return build_samples(movielens.load_interactions())


def test_ml100k_preranker_beats_popularity_widely(ml100k):
    metrics = ml100k.report["preranker"]["metrics"]
    ours, popular = metrics["item-transition"]["test"], metrics["popularity"]["test"]
    assert ours["n"] == popular["n"] == 943
    assert ours["recall@10"] > 2 * popular["recall@10"]
    assert ours["ndcg@10"] > 2 * popular["ndcg@10"]
    assert TransitionPreranker().settings()["window"] == ml100k.report["preranker"]["settings"]["window"]


def test_ml100k_samples(ml100k):
    log = ml100k.report["log"]
    assert (log["users"], log["items"], log["interactions"]) == (943, 1349, 99287)
    by_split = {s: [x for x in ml100k.samples if x.split == s] for s in ("train", "val", "test")}
    assert len(by_split["test"]) == len(by_split["val"]) == 943
    for s in ml100k.samples[:2000]:
        assert len(s.candidates) == 10 and len(set(s.candidates)) == 10
        assert len(s.history) <= 20 and not set(s.history) & set(s.candidates)
    assert sum(ml100k.popularity.values()) == log["interactions"] - 2 * 943


def test_sparse_path_matches_dense_path(monkeypatch):
    """Big catalogues take the sparse path; it must pick the same candidates as the dense one."""
    import data_prep.preranker as preranker

    log, _ = synthetic_log(120, 300, 12, seed=8)
    seqs, n = _indexed(log)
    examples = leave_one_out({u: list(s) for u, s in seqs.items()})
    dense = candidate_lists(seqs, examples, n)
    monkeypatch.setattr(preranker, "DENSE_ITEMS", 0)
    sparse = candidate_lists(seqs, examples, n)
    assert (dense == sparse).all()


@pytest.mark.parametrize("dense_items", [4096, 0])
def test_repeated_history_items_are_still_excluded(monkeypatch, dense_items):
    import data_prep.preranker as preranker

    monkeypatch.setattr(preranker, "DENSE_ITEMS", dense_items)
    model = TransitionPreranker().fit([np.array([0, 1, 2, 3, 1, 2, 4])], 6)
    out = top_k(model, [np.array([1, 2, 1, 2])], k=4)
    assert not {1, 2} & set(out[0].tolist()) and sorted(out[0].tolist()) == [0, 3, 4, 5]
