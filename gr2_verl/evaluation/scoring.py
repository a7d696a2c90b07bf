"""Score answers and baseline orders per test row, and summarise them with bootstrap confidence intervals.

Ranking metrics (R@k, N@k, MRR) come from ``gr2_verl.metrics`` on the *evaluated* order: a valid
answer as written, an invalid one repaired by ``gr2_verl.parsing.repair`` (valid entries kept once, the
rest appended in input order; an unparseable answer becomes the input order, as in GR2). Of the hacking
diagnostics, ``valid``, ``identity`` and ``copies_shown`` are shares of all answers (an invalid answer
copies nothing, so a fallback never counts as "copying the input"; the same definition as the training
step metrics of ``gr2_verl.verl_ext.step_metrics``); the others (Kendall tau, promoted/demoted, rank gain,
top-1 position) describe valid answers only.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gr2_verl.metrics import is_identity, mrr, ndcg_at_k, rank_of, recall_at_k
from gr2_verl.outcome import judge
from gr2_verl.parsing import repair
from gr2_verl.rl_row import RLRow

RANK_METRICS = ("R@1", "R@3", "R@5", "N@3", "N@5", "MRR")
DIAGNOSTICS = (
    "valid",  # share of answers that are a permutation of the candidates
    "identity",  # share of all answers that copy the pre-rank (input) order exactly
    "copies_shown",  # share of all answers that copy the order shown in the prompt (differs when shuffled)
    "kendall_tau",  # Kendall tau to the input order, valid answers
    "promoted",  # target moved up, valid answers with the target in the list
    "unchanged",
    "demoted",
    "rank_gain",  # r_D - r_o in positions, valid answers with the target in the list
    "top1_input_pos",  # 1-based input position of the chosen top-1, valid answers
    "top1_shown_slot",  # 1-based prompt slot of the chosen top-1, valid answers
)
NAN = float("nan")


def rank_metrics(rank: int) -> list[float]:
    """``RANK_METRICS`` for one target at 1-based ``rank`` (0 = not in the list: all zero)."""
    return [
        recall_at_k(rank, 1),
        recall_at_k(rank, 3),
        recall_at_k(rank, 5),
        ndcg_at_k(rank, 3),
        ndcg_at_k(rank, 5),
        mrr(rank),
    ]


@dataclass(frozen=True)
class AnswerScore:
    """One answer to one row: ranking metrics of the evaluated order, diagnostics (NaN = not applicable)."""

    status: str
    metrics: list[float]
    diagnostics: list[float]


def score_answer(text: str, row: RLRow) -> AnswerScore:
    """Score one answer against its row; never raises on the answer text."""
    outcome = judge(text, row.ground_truth)
    cands = row.truth.candidates
    order = repair(outcome.parsed, cands)
    metrics = rank_metrics(rank_of(row.truth.targets[0], order))
    if not outcome.valid:
        return AnswerScore(outcome.parsed.status, metrics, [0.0, 0.0, 0.0] + [NAN] * (len(DIAGNOSTICS) - 3))
    r_in, r_out = outcome.target_in_pos, outcome.target_out_pos
    move = [NAN] * 4
    if r_in > 0:
        move = [float(r_out < r_in), float(r_out == r_in), float(r_out > r_in), float(r_in - r_out)]
    top1 = order[0]
    diags = [
        1.0,
        float(outcome.is_identity),
        float(is_identity(order, row.shown_candidates)),
        outcome.kendall_tau,
        *move,
        float(cands.index(top1) + 1),
        float(row.shown_candidates.index(top1) + 1),
    ]
    return AnswerScore("ok", metrics, diags)


def baseline_orders(row: RLRow, rng: random.Random) -> dict[str, tuple[str, ...]]:
    """The reference orders evaluated on the same rows as the model.

    input_order: the pre-ranker's order. shown_order: the prompt's order (only differs when shuffled).
    random: a seeded uniform shuffle. popularity: most training interactions first, ties in input
    order (absent without ``candidate_popularity``). oracle: targets first, then the input order.
    """
    cands = row.truth.candidates
    shuffled = list(cands)
    rng.shuffle(shuffled)
    positives = set(row.truth.targets)
    targets = [c for c in cands if c in positives]
    orders = {
        "input_order": cands,
        "shown_order": row.shown_candidates,
        "random": tuple(shuffled),
        "oracle": tuple(targets + [c for c in cands if c not in positives]),
    }
    if row.popularity is not None:
        by_pop = sorted(range(len(cands)), key=lambda i: (-row.popularity[i], i))
        orders["popularity"] = tuple(cands[i] for i in by_pop)
    return orders


def bootstrap(
    values: np.ndarray, names: Sequence[str], n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> dict[str, dict[str, float]]:
    """Mean and percentile bootstrap CI per column of ``values`` (rows = test rows, NaN = not applicable).

    Rows are resampled with replacement (multinomial weights, in chunks to bound memory); a column's
    mean in each resample ignores its NaN rows. Returns ``{name: {"mean", "lo", "hi", "n"}}``.
    """
    values = np.asarray(values, dtype=float).reshape(len(values), len(names))
    n = len(values)
    present = ~np.isnan(values)
    filled = np.where(present, values, 0.0)
    rng = np.random.default_rng(seed)
    boots = []
    for start in range(0, n_boot, 100):
        w = rng.multinomial(n, np.full(n, 1.0 / n), size=min(100, n_boot - start)).astype(float) if n else None
        if w is None:
            break
        with np.errstate(invalid="ignore", divide="ignore"):
            boots.append((w @ filled) / (w @ present))
    stack = np.concatenate(boots) if boots else np.full((1, len(names)), NAN)
    lo_q, hi_q = 100 * (1 - level) / 2, 100 * (1 + level) / 2
    out = {}
    for j, name in enumerate(names):
        col = values[present[:, j], j]
        finite = stack[:, j][~np.isnan(stack[:, j])]
        mean = float(col.mean()) if len(col) else NAN
        lo, hi = (float(np.percentile(finite, lo_q)), float(np.percentile(finite, hi_q))) if len(finite) else (NAN, NAN)
        out[name] = {"mean": mean, "lo": lo, "hi": hi, "n": int(len(col))}
    return out


def row_means(per_answer: Sequence[Sequence[float]]) -> list[float]:
    """Average several answers' values for one row, ignoring NaN (NaN when all are NaN)."""
    arr = np.asarray(per_answer, dtype=float)
    with np.errstate(invalid="ignore"):
        counts = (~np.isnan(arr)).sum(axis=0)
        sums = np.nansum(arr, axis=0)
    return [float(s / c) if c else NAN for s, c in zip(sums, counts, strict=True)]
