"""The miniature GR2's report: per-stage table, R@1 margins with paired bootstrap CIs, DAPO step times, plots.

Per stage (input order, both mid-training phases, reasoning SFT, DAPO with each reward) on the held-out
test rows: valid rate, R@1, N@5, identity rate (answers that copy the input order, over all answers) and
Kendall tau to the input order (valid answers). Margins are paired: per-row R@1 differences on the same rows, resampled
by ``gr2_verl.evaluation.scoring.bootstrap``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gr2_verl.io import atomic_write_text

STAGES = ("midtrain_sft", "midtrain_copy", "reasoning_sft", "dapo_conditional_format", "dapo_naive_format")
TIMING_KEYS = ("gen", "old_log_prob", "update_actor", "update_weights", "step")
COLUMNS = ("valid", "R@1", "N@5", "identity", "kendall_tau")


def stage_row(evaluation: Mapping[str, Any], method: str = "model") -> dict[str, float]:
    """The table's columns for one method (the input order is valid, identical to itself, tau 1, by definition)."""
    ranks = evaluation["methods"][method]["in_list"]
    if method == "model":
        diag = evaluation["diagnostics"]
        extra = {
            "valid": diag["valid"]["mean"],
            "identity": diag["identity"]["mean"],
            "kendall_tau": diag["kendall_tau"]["mean"],
        }
    else:  # the input order itself
        extra = {"valid": 1.0, "identity": 1.0, "kendall_tau": 1.0}
    return {**extra, "R@1": ranks["R@1"]["mean"], "N@5": ranks["N@5"]["mean"]}


def per_row_r1(generations: str | Path, test: str | Path) -> dict[int, float]:
    """R@1 of each test row's (single) answer, keyed by row index."""
    from gr2_verl.evaluation import load_generations
    from gr2_verl.evaluation.scoring import RANK_METRICS, score_answer
    from gr2_verl.rl_row import read_rl_rows

    rows = {r.index: r for r in read_rl_rows(test)}
    col = RANK_METRICS.index("R@1")
    return {
        g.index: score_answer(g.text, rows[g.index]).metrics[col]
        for g in load_generations(generations, list(rows.values()))
    }


def paired_margin(
    a: Mapping[int, float], b: Mapping[int, float], *, n_boot: int = 2000, seed: int = 0
) -> dict[str, float]:
    """Mean of ``a - b`` over the rows both have, with a 95% bootstrap CI."""
    from gr2_verl.evaluation.scoring import bootstrap

    keys = sorted(set(a) & set(b))
    diff = np.array([[a[k] - b[k]] for k in keys])
    return bootstrap(diff, ["margin"], n_boot, seed)["margin"]


def input_order_r1(test: str | Path) -> dict[int, float]:
    from gr2_verl.rl_row import read_rl_rows

    return {r.index: float(r.truth.candidates[0] in r.truth.targets) for r in read_rl_rows(test)}


def dapo_timings(steps: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Median seconds per DAPO step of veRL's ``timing_s/*`` metrics (step 1 left out when there are more: warm-up)."""
    use = steps[1:] if len(steps) > 1 else steps
    out = {}
    for key in TIMING_KEYS:
        values = [m[f"timing_s/{key}"] for m in use if f"timing_s/{key}" in m]
        if values:
            out[key] = float(np.median(values))
    return out


def build(results: Mapping[str, Any]) -> dict[str, Any]:
    """The report's JSON: table, margins, timings."""
    evals = results["evaluations"]
    test = results["test"]
    table = {"input_order": stage_row(evals["reasoning_sft"], "input_order")}
    table.update({stage: stage_row(evals[stage]) for stage in STAGES if stage in evals})
    r1 = {stage: per_row_r1(results["generations"][stage], test) for stage in STAGES if stage in evals}
    base = input_order_r1(test)
    margins = {}
    for stage in STAGES:
        if stage.startswith("dapo_") and stage in r1:
            margins[f"{stage} - input_order"] = paired_margin(r1[stage], base)
            margins[f"{stage} - reasoning_sft"] = paired_margin(r1[stage], r1["reasoning_sft"])
    if "reasoning_sft" in r1:
        margins["reasoning_sft - input_order"] = paired_margin(r1["reasoning_sft"], base)
    metrics = results["train_metrics"]
    timings = {name: dapo_timings(metrics[name]) for name in metrics if name.startswith("dapo_")}
    return {
        "test_rows": evals["reasoning_sft"]["rows"],
        "table": table,
        "r1_margins": margins,
        "dapo_step_seconds": timings,
        "timings_s": results["timings_s"],
        "goals": goals(table, margins),
    }


def goals(table: Mapping[str, Mapping[str, float]], margins: Mapping[str, Mapping[str, float]]) -> dict[str, bool]:
    """The issue's goals: valid >= 0.9 after SFT; DAPO (conditional) R@1 above input order and SFT (and CI > 0)."""
    out = {"valid_after_sft_ge_0.9": table.get("reasoning_sft", {}).get("valid", 0.0) >= 0.9}
    for ref in ("input_order", "reasoning_sft"):
        m = margins.get(f"dapo_conditional_format - {ref}")
        out[f"dapo_conditional_r1_above_{ref}"] = bool(m and m["mean"] > 0)
        out[f"dapo_conditional_r1_above_{ref}_ci_excludes_0"] = bool(m and m["lo"] > 0)
    return out


def to_markdown(report: Mapping[str, Any], command: str) -> str:
    lines = [
        "# Miniature GR2 on CPU",
        "",
        f"Command: `{command}`",
        "",
        f"Held-out test rows: {report['test_rows']} (target always among the K candidates). Greedy answers; "
        "invalid answers are scored as the input order (repair), identity counts over all answers, Kendall tau "
        "over valid ones.",
        "",
        "| stage | valid | R@1 | N@5 | identity | Kendall tau |",
        "|---|---|---|---|---|---|",
    ]
    for stage, row in report["table"].items():
        lines.append(f"| {stage} | " + " | ".join(f"{row[c]:.3f}" for c in COLUMNS) + " |")
    lines += ["", "## R@1 margins (paired, mean [95% bootstrap CI])", "", "| comparison | margin |", "|---|---|"]
    for name, m in report["r1_margins"].items():
        lines.append(f"| {name} | {m['mean']:+.3f} [{m['lo']:+.3f}, {m['hi']:+.3f}] |")
    lines += ["", "## DAPO seconds per step (median of veRL's timing_s/*, step 1 excluded)", ""]
    lines += ["| run | " + " | ".join(TIMING_KEYS) + " |", "|---" * (len(TIMING_KEYS) + 1) + "|"]
    for run, t in report["dapo_step_seconds"].items():
        lines.append(f"| {run} | " + " | ".join(f"{t.get(k, float('nan')):.1f}" for k in TIMING_KEYS) + " |")
    lines += ["", "## Wall time per stage (s)", "", ", ".join(f"{k} {v:.0f}" for k, v in report["timings_s"].items())]
    lines += ["", "## Goals", ""] + [f"- {k}: {'yes' if v else 'no'}" for k, v in report["goals"].items()]
    return "\n".join(lines) + "\n"


def plots(report: Mapping[str, Any], results: Mapping[str, Any], out: Path) -> list[Path]:
    """``stages.png`` (the table as bars) and ``dapo_reward.png`` (mean reward per DAPO step, both rewards)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    fig, ax = plt.subplots(figsize=(9, 4))
    stages = list(report["table"])
    width = 0.8 / len(stages)
    for i, stage in enumerate(stages):
        ax.bar(np.arange(len(COLUMNS)) + i * width, [report["table"][stage][c] for c in COLUMNS], width, label=stage)
    ax.set_xticks(np.arange(len(COLUMNS)) + 0.4 - width / 2, COLUMNS)
    ax.set_title("Miniature GR2: held-out test rows per stage")
    ax.legend(fontsize=8)
    paths.append(out / "stages.png")
    fig.savefig(paths[-1], dpi=110, bbox_inches="tight")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4))
    for name, steps in results["train_metrics"].items():
        if name.startswith("dapo_") and steps:
            key = next((k for k in ("critic/score/mean", "critic/rewards/mean") if k in steps[0]), None)
            if key:
                ax.plot([m["step"] for m in steps], [m[key] for m in steps], marker="o", label=f"{name} ({key})")
    ax.set_xlabel("DAPO step")
    ax.set_ylabel("mean reward of the step's answers")
    ax.legend(fontsize=8)
    paths.append(out / "dapo_reward.png")
    fig.savefig(paths[-1], dpi=110, bbox_inches="tight")
    plt.close(fig)
    return paths


def write(results: Mapping[str, Any], out_dir: str | Path, command: str) -> list[Path]:
    """report.md, report.json and the PNG plots into ``out_dir``; returns their paths."""
    out = Path(out_dir)
    report = build(results)
    report["command"] = command
    paths = [
        atomic_write_text(out / "report.json", json.dumps(report, indent=2)),
        atomic_write_text(out / "report.md", to_markdown(report, command)),
    ]
    return paths + plots(report, results, out)
