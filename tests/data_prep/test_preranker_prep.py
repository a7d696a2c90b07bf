"""The pre-ranker: beats popularity, never leaks a target, never proposes a seen item."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from data_prep import movielens
from data_prep.interactions import CodedLog, Examples, Ragged, leave_one_out, user_sequences
from data_prep.pipeline import build_samples
from data_prep.preranker import TIE_BREAK, PopularityRanker, TransitionPreranker, candidate_lists, recall_ndcg, top_k
from data_prep.synthetic import synthetic_log


def _indexed(log):
    """(sequences by user code, examples, catalogue size)."""
    coded = CodedLog.from_frame(log)
    seqs = user_sequences(coded)
    every = leave_one_out(seqs)
    return seqs.items, every.rows(0, len(every)), len(coded.item_ids)


def _only(examples: Examples, keep: np.ndarray) -> Examples:
    return Examples(examples.users[keep], examples.positions[keep], examples.splits[keep])


def _replaced(seqs: Ragged, user: int, row: np.ndarray) -> Ragged:
    rows = [seqs.row(u) if u != user else row for u in range(len(seqs))]
    return Ragged.from_rows(rows)


def test_top_k_excludes_history_and_orders_ties_by_index():
    model = PopularityRanker(popularity=np.array([5, 5, 9, 1, 0], dtype=np.float32))
    out = top_k(model, [np.array([2]), np.array([0, 1, 2, 3])], k=3)
    assert out[0].tolist() == [0, 1, 3]
    assert out[1].tolist() == [4, -1, -1]  # only one unseen item: padded


def test_transition_model_beats_popularity_on_a_log_with_order():
    log, _ = synthetic_log(300, 200, 15, seed=3)
    seqs, examples, n = _indexed(log)
    tests = _only(examples, examples.splits == 2)
    targets = seqs.values[seqs.starts[tests.users] + tests.positions]
    ours = recall_ndcg(candidate_lists(seqs, tests, n).whole(), targets)["recall@10"]
    popular = recall_ndcg(candidate_lists(seqs, tests, n, ranker=PopularityRanker).whole(), targets)["recall@10"]
    assert ours > 2 * popular


def test_training_targets_never_rank_themselves():
    """Changing a user's future (their own targets) must not change the candidates of their training examples."""
    log, _ = synthetic_log(50, 40, 12, seed=5)
    seqs, examples, n = _indexed(log)
    mine = _only(examples, examples.users == 0)
    before = candidate_lists(seqs, mine, n).whole()
    pos = int(mine.positions[0])
    row = seqs.row(0)
    changed = _replaced(seqs, 0, np.concatenate([row[:pos], row[pos:][::-1]]))  # same items, future reordered
    after = candidate_lists(changed, _only(mine, np.arange(len(mine)) == 0), n).whole()
    assert (before[:1] == after).all()


def test_test_targets_never_reach_the_model():
    """Replacing every user's last item changes no test candidate list (only their targets)."""
    log, _ = synthetic_log(50, 40, 12, seed=6)
    seqs, examples, n = _indexed(log)
    tests = _only(examples, examples.splits == 2)
    before = candidate_lists(seqs, tests, n).whole()
    rows = []
    for u in range(len(seqs)):
        s = seqs.row(u)
        unseen = [i for i in range(n) if i not in set(s[:-1])]
        rows.append(np.concatenate([s[:-1], [unseen[-1]]]))
    assert (candidate_lists(Ragged.from_rows(rows), tests, n).whole() == before).all()


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


def _reference_top_k(model: TransitionPreranker, history: np.ndarray, k: int) -> list[int]:
    """The documented order, one history at a time in plain Python: (score + bonus) desc, index asc; then
    the most popular unseen items."""
    scores = model.transitions(Ragged.from_rows([history])).toarray()[0]
    bonus = TIE_BREAK * model.popularity / max(float(model.popularity.max()), 1.0)
    seen = set(history.tolist())
    keys = {i: float(np.float32(scores[i]) + bonus[i]) for i in range(len(scores)) if scores[i] > 0 and i not in seen}
    best = sorted(keys, key=lambda i: (-keys[i], i))[:k]
    popular = sorted(range(len(scores)), key=lambda i: (-model.popularity[i], i))
    return (best + [i for i in popular if i not in seen and i not in best])[:k]


@pytest.mark.parametrize(
    "dense_items, block",
    [
        (4096, 8),  # small catalogues: dense keys
        (0, 8),  # large: sparse; <= 50 reachable items a row, so fewer than k blocks: every entry is keyed
        (0, 2),  # large, the k-th block maximum bounds the keys
        (0, 1),  # large, the bound is the k-th score itself
    ],
)
def test_vectorised_top_k_matches_a_per_history_reference(monkeypatch, dense_items, block):
    """Ties at the k-th place, fills by popularity, long histories: the array code follows the plain loop."""
    import data_prep.preranker as preranker

    monkeypatch.setattr(preranker, "DENSE_ITEMS", dense_items)
    monkeypatch.setattr(preranker, "BLOCK", block)
    log, _ = synthetic_log(150, 400, 14, seed=8)
    seqs, examples, n = _indexed(log)
    model = TransitionPreranker(neighbours=5).fit(seqs.prefixes(np.maximum(seqs.lengths - 2, 0)), n)
    histories = Ragged(seqs.values, seqs.starts[examples.users], examples.positions)
    out = top_k(model, histories, k=10)
    for e in range(0, len(examples), 3):
        assert out[e].tolist() == _reference_top_k(model, histories.row(e), 10), e


def test_keep_top_keeps_the_strongest_neighbours():
    log, _ = synthetic_log(100, 50, 20, seed=9)
    seqs, _, n = _indexed(log)
    full = TransitionPreranker(neighbours=n).fit(seqs, n).matrix.toarray()
    kept = TransitionPreranker(neighbours=4).fit(seqs, n).matrix.toarray()
    for r in range(n):
        order = sorted(np.flatnonzero(full[r]), key=lambda c: (-full[r, c], c))[:4]
        assert np.flatnonzero(kept[r]).tolist() == sorted(order)


def _one_pass_model(model: TransitionPreranker, train: Ragged, n: int) -> sp.csr_matrix:
    """The model's definition in one pass: every pair at once, the whole forward matrix transposed."""
    flat = np.concatenate([train.row(u) for u in range(len(train))])
    owner = np.repeat(np.arange(len(train)), train.lengths)
    r, c, v = [], [], []
    for gap in range(1, model.window + 1):
        keep = owner[:-gap] == owner[gap:]
        r.append(flat[:-gap][keep])
        c.append(flat[gap:][keep])
        v.append(np.full(int(keep.sum()), model.decay ** (gap - 1), dtype=np.float32))
    forward = sp.csr_matrix((np.concatenate(v), (np.concatenate(r), np.concatenate(c))), shape=(n, n), dtype=np.float32)
    return model._damped_top(forward, forward.T.tocsr())


@pytest.mark.parametrize("users", ["all", "every other", "reversed"])
def test_a_fit_in_blocks_of_items_is_the_one_pass_model_bit_for_bit(monkeypatch, tmp_path, users):
    """Counting, damping and cutting a few rows at a time, the forward counts on disk in between (bounded
    memory), changes no bit of the model; the scratch files are gone afterwards. The training prefixes are read
    in place (all users, or a fold's users with gaps between them) or copied (rows out of order)."""
    import data_prep.preranker as preranker

    seqs = user_sequences(CodedLog.from_frame(movielens.load_interactions())).items
    train, n = seqs.prefixes(np.maximum(seqs.lengths - 2, 0)), int(seqs.values.max()) + 1
    picked = {"all": slice(None), "every other": slice(None, None, 2), "reversed": slice(None, None, -1)}[users]
    train = train.take(np.arange(len(train))[picked])
    one = _one_pass_model(TransitionPreranker(), train, n)
    monkeypatch.setattr(preranker, "FIT_PAIRS", 20_000)  # ~50 blocks of rows
    monkeypatch.setattr(preranker, "TOP_ENTRIES", 10_000)
    monkeypatch.setattr(preranker, "FLAT_VALUES", 5_000)  # the rows' places marked ~10 blocks at a time
    saved, save = [], sp.save_npz
    monkeypatch.setattr(sp, "save_npz", lambda path, *a, **kw: (saved.append(Path(path)), save(path, *a, **kw)))
    blocks = TransitionPreranker().fit(train, n, folder=tmp_path).matrix
    assert len(saved) > 20 and {p.parent.parent for p in saved} == {tmp_path}  # forward counts in the folder
    assert len(preranker._blocks(np.bincount(train.flat(), minlength=n) * 10, 20_000)) > 20
    assert one.nnz == blocks.nnz > 50_000
    assert (one.indptr == blocks.indptr).all() and (one.indices == blocks.indices).all()
    assert (one.data.view(np.int32) == blocks.data.view(np.int32)).all()
    assert list(tmp_path.iterdir()) == []
    assert (preranker._in_place(train, 5)[0] is seqs.values) == (users != "reversed")


@pytest.mark.parametrize("dense_items", [4096, 0])
def test_repeated_history_items_are_still_excluded(monkeypatch, dense_items):
    import data_prep.preranker as preranker

    monkeypatch.setattr(preranker, "DENSE_ITEMS", dense_items)
    model = TransitionPreranker().fit([np.array([0, 1, 2, 3, 1, 2, 4])], 6)
    out = top_k(model, [np.array([1, 2, 1, 2])], k=4)
    assert not {1, 2} & set(out[0].tolist()) and sorted(out[0].tolist()) == [0, 3, 4, 5]


@pytest.mark.parametrize("threads", [1, 3])
def test_top_k_is_the_same_on_any_thread_count(monkeypatch, threads):
    """Many small chunks on 1 or 3 threads: the same candidates, in example order."""
    import data_prep.preranker as preranker

    log, _ = synthetic_log(300, 5000, 12, seed=4)
    seqs, examples, n = _indexed(log)
    model = TransitionPreranker().fit(seqs.prefixes(np.maximum(seqs.lengths - 2, 0)), n)
    histories = Ragged(seqs.values, seqs.starts[examples.users], examples.positions)
    whole = top_k(model, histories, k=10)  # one chunk
    monkeypatch.setattr(preranker, "CHUNK_ROWS", 97)
    monkeypatch.setattr(preranker, "THREADS", threads)
    assert np.array_equal(top_k(model, histories, k=10), whole)


_SIMD_PROBE = """
import hashlib
from data_prep import movielens
from data_prep.pipeline import build_samples
prepared = build_samples(movielens.load_interactions(), seed=3)  # seed 3: differed on an AVX-512 CPU
print(hashlib.sha256(prepared.table.candidates.tobytes()).hexdigest())
"""


def test_candidates_do_not_depend_on_numpy_simd_loops():
    """numpy's AVX-512 ``power`` rounds some values differently from libm: the pre-ranker (and the synthetic log)
    must not use it, or the same log gives other candidates on another CPU (ML-100K with seed 3 did). A no-op on
    CPUs without AVX-512."""
    import os
    import subprocess
    import sys

    def digest(env: dict[str, str]) -> str:
        run = subprocess.run([sys.executable, "-c", _SIMD_PROBE], env={**os.environ, **env}, capture_output=True,
                             text=True, check=True)  # fmt: skip
        return run.stdout.strip()

    assert digest({}) == digest({"NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR"})
