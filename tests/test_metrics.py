"""Ranking metrics on hand-computed cases, cross-checked against ir-measures (trec_eval's definitions)."""

from __future__ import annotations

import math

import ir_measures
import pytest
from ir_measures import Qrel, ScoredDoc

from gr2_verl.metrics import (
    auc,
    graded_ndcg_at_k,
    is_identity,
    kendall_tau,
    mrr,
    ndcg_at_k,
    rank_of,
    recall_at_k,
)


@pytest.mark.parametrize(
    "rank,k,recall,ndcg",
    [
        (1, 5, 1.0, 1.0),
        (2, 5, 1.0, 1 / math.log2(3)),
        (3, 3, 1.0, 0.5),
        (4, 3, 0.0, 0.0),  # just outside the cut-off
        (0, 5, 0.0, 0.0),  # not in the list
    ],
)
def test_single_target_cases(rank, k, recall, ndcg):
    assert recall_at_k(rank, k) == recall
    assert ndcg_at_k(rank, k) == pytest.approx(ndcg)


def test_mrr_and_rank_of():
    assert mrr(4) == 0.25 and mrr(0) == 0.0
    assert rank_of("c", ["a", "b", "c"]) == 3 and rank_of("z", ["a"]) == 0


def _ir_measures_ndcg(gains: list[float], k: int) -> float:
    qrels = [Qrel("q", f"d{i}", int(g)) for i, g in enumerate(gains)]
    run = [ScoredDoc("q", f"d{i}", float(len(gains) - i)) for i in range(len(gains))]
    return ir_measures.calc_aggregate([ir_measures.nDCG @ k], qrels, run)[ir_measures.nDCG @ k]


@pytest.mark.parametrize(
    "gains,k",
    [
        ([0, 0, 1, 0, 0, 0, 0, 0, 0, 0], 5),
        ([0, 0, 0, 0, 0, 0, 1, 0, 0, 0], 5),  # relevant item past the cut-off
        ([2, 0, 1, 0, 3, 0, 0, 1, 0, 0], 10),  # graded labels
        ([0, 3, 0, 2, 0, 1, 0, 0, 0, 0], 3),
        ([1, 1, 1, 0, 0, 0, 0, 0, 0, 0], 10),  # ideal order
    ],
)
def test_graded_ndcg_matches_trec_eval(gains, k):
    assert graded_ndcg_at_k(gains, k) == pytest.approx(_ir_measures_ndcg(gains, k), abs=1e-4)


def test_single_target_ndcg_equals_graded_with_one_relevant():
    gains = [0.0] * 10
    gains[6] = 1.0
    assert ndcg_at_k(7, 10) == pytest.approx(graded_ndcg_at_k(gains, 10))


@pytest.mark.parametrize(
    "order,positives,expected",
    [
        (["p", "n1", "n2"], {"p"}, 1.0),
        (["n1", "p", "n2"], {"p"}, 0.5),
        (["n1", "n2", "p"], {"p"}, 0.0),
        (["p1", "n1", "p2", "n2"], {"p1", "p2"}, 0.75),  # one of four pairs misordered
        (["p1", "p2"], {"p1", "p2"}, 1.0),  # no negatives: nothing to get wrong
    ],
)
def test_auc(order, positives, expected):
    assert auc(order, positives) == pytest.approx(expected)


@pytest.mark.parametrize(
    "order,expected",
    [
        (["a", "b", "c", "d"], 1.0),  # identical
        (["d", "c", "b", "a"], -1.0),  # reversed
        (["b", "a", "c", "d"], 1 - 2 * 1 / 6),  # one adjacent swap of 6 pairs
        (["a"], 1.0),  # too short to disagree
    ],
)
def test_kendall_tau(order, expected):
    assert kendall_tau(order, ["a", "b", "c", "d"]) == pytest.approx(expected)


def test_kendall_tau_matches_scipy():
    scipy_stats = pytest.importorskip("scipy.stats")
    order = ["c", "a", "e", "b", "d", "g", "f"]
    reference = ["a", "b", "c", "d", "e", "f", "g"]
    expected = scipy_stats.kendalltau([reference.index(x) for x in order], range(len(order))).statistic
    assert kendall_tau(order, reference) == pytest.approx(expected)


def test_is_identity():
    assert is_identity(("a", "b"), ["a", "b"])
    assert not is_identity(["b", "a"], ["a", "b"])
