"""Evaluate a reranker's answers and the baselines on the same test rows; render JSON-able results and markdown."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from gr2_verl.evaluation.data import Generation
from gr2_verl.evaluation.scoring import (
    DIAGNOSTICS,
    RANK_METRICS,
    baseline_orders,
    bootstrap,
    rank_metrics,
    row_means,
    score_answer,
)
from gr2_verl.metrics import rank_of
from gr2_verl.rl_row import RLRow

FALLBACK_NOTE = (
    "Invalid answers are evaluated after repair: valid entries kept once in the order written, the other "
    "candidates appended in input order, so an unparseable answer counts as the input order (as in GR2). "
    "Valid, identity and copies-shown rates are shares of all answers (an invalid answer copies nothing); the "
    "other diagnostics (Kendall tau, promoted/demoted, rank gain, top-1 position) cover valid answers only."
)
SUBSETS = ("in_list", "end_to_end")  # target among the candidates / all rows, a pre-ranker miss scoring 0


def _summaries(values: np.ndarray, in_list: np.ndarray, n_boot: int, seed: int) -> dict[str, Any]:
    return {
        "in_list": bootstrap(values[in_list], RANK_METRICS, n_boot, seed),
        "end_to_end": bootstrap(values, RANK_METRICS, n_boot, seed),
    }


def evaluate(
    rows: Sequence[RLRow], generations: Sequence[Generation] | None = None, *, n_boot: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """Metrics with bootstrap CIs for the model (when ``generations`` is given) and every baseline.

    Rows without a generation are left out, so baselines and model always share the same rows.
    Several generations per row are averaged per row before the rows are resampled.
    """
    answers: dict[int, list[str]] = defaultdict(list)
    for g in generations or ():
        answers[g.index].append(g.text)
    used = [r for r in rows if r.index in answers] if generations is not None else list(rows)
    if not used:
        raise ValueError("no test row has a generation")
    in_list = np.array([r.target_in_list for r in used], dtype=bool)
    rng = random.Random(seed)
    per_baseline: dict[str, list[list[float]]] = defaultdict(list)
    for r in used:
        for name, order in baseline_orders(r, rng).items():
            per_baseline[name].append(rank_metrics(rank_of(r.truth.targets[0], order)))
    k = max(r.truth.k for r in used)
    result: dict[str, Any] = {
        "rows": len(used),
        "rows_in_list": int(in_list.sum()),
        "rows_without_generation": len(rows) - len(used),
        "k": k,
        "shuffled": any(r.shown_order != tuple(range(r.truth.k)) for r in used),
        "fallback": FALLBACK_NOTE,
        "methods": {},
        "target_input_pos_hist": _hist([rank_of(r.truth.targets[0], r.truth.candidates) for r in used], k),
    }
    if generations is not None:
        statuses: Counter[str] = Counter()
        metric_rows, diag_rows, top1 = [], [], []
        for r in used:
            scores = [score_answer(text, r) for text in answers[r.index]]
            statuses.update(s.status for s in scores)
            metric_rows.append(row_means([s.metrics for s in scores]))
            diag_rows.append(row_means([s.diagnostics for s in scores]))
            top1 += [int(s.diagnostics[DIAGNOSTICS.index("top1_input_pos")]) for s in scores if s.status == "ok"]
        model = np.array(metric_rows)
        result["generations"] = sum(len(answers[r.index]) for r in used)
        result["status_counts"] = dict(statuses.most_common())
        result["methods"]["model"] = _summaries(model, in_list, n_boot, seed)
        result["diagnostics"] = bootstrap(np.array(diag_rows), DIAGNOSTICS, n_boot, seed)
        result["top1_input_pos_hist"] = _hist(top1, k)
        diff = model - np.array(per_baseline["input_order"])
        result["delta_vs_input_order"] = _summaries(diff, in_list, n_boot, seed)
    for name, values in per_baseline.items():
        if name == "shown_order" and not result["shuffled"]:
            continue
        result["methods"][name] = _summaries(np.array(values), in_list, n_boot, seed)
    return result


def _hist(positions: Sequence[int], k: int) -> list[int]:
    """Counts of 1-based positions 1..k (position 0, a miss, is not counted)."""
    counts = Counter(positions)
    return [counts.get(p, 0) for p in range(1, k + 1)]


def _cell(stat: dict[str, float], digits: int = 4) -> str:
    return f"{stat['mean']:.{digits}f} [{stat['lo']:.{digits}f}, {stat['hi']:.{digits}f}]"


def to_markdown(result: dict[str, Any], title: str = "Reranking evaluation") -> str:
    """Markdown tables: metrics per method and subset (mean [95% CI]), then the model's diagnostics."""
    lines = [f"# {title}", ""]
    lines.append(
        f"{result['rows']} test rows, {result['rows_in_list']} with the target among the {result['k']} candidates"
        + (f", {result['generations']} answers" if "generations" in result else "")
        + (f"; {result['rows_without_generation']} rows had no answer and are left out" if result.get(
            "rows_without_generation") else "")
        + ". Mean [95% bootstrap CI over rows]."
    )
    lines.append("")
    for subset, label in (("in_list", "Target in list"), ("end_to_end", "End to end (a pre-ranker miss scores 0)")):
        header = "| method | " + " | ".join(RANK_METRICS) + " |"
        lines += [f"## {label}", "", header, "|---" * (len(RANK_METRICS) + 1) + "|"]
        for name, stats in result["methods"].items():
            lines.append(f"| {name} | " + " | ".join(_cell(stats[subset][m]) for m in RANK_METRICS) + " |")
        if "delta_vs_input_order" in result:
            delta = result["delta_vs_input_order"][subset]
            lines.append("| model - input_order | " + " | ".join(_cell(delta[m]) for m in RANK_METRICS) + " |")
        lines.append("")
    if "diagnostics" in result:
        lines += ["## Reward-hacking diagnostics (model)", "", "| diagnostic | value | rows |", "|---|---|---|"]
        for name, stat in result["diagnostics"].items():
            if name in ("copies_shown", "top1_shown_slot") and not result["shuffled"]:
                continue
            lines.append(f"| {name} | {_cell(stat)} | {stat['n']} |")
        lines += ["", "Answer status counts: " + ", ".join(f"{k} {v}" for k, v in result["status_counts"].items())]
        lines += ["", "Top-1 input position (1..K): " + ", ".join(str(c) for c in result["top1_input_pos_hist"])]
    lines += ["", "Target input position (1..K): " + ", ".join(str(c) for c in result["target_input_pos_hist"])]
    if result["rows_in_list"] == result["rows"]:
        lines += ["", "End to end equals target-in-list here: these rows hold no pre-ranker miss "
                  "(`gr2 prepare --keep-all` writes them)."]
    lines += ["", f"Note: {result['fallback']}", ""]
    return "\n".join(lines)
