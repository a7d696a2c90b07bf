"""Summarise a reward-lab run: per reward variant, where identity rate and R@1 started and ended."""

from __future__ import annotations

from typing import Any

HACK_NOTE = (
    "A reward is hackable by order copying when its identity rate climbs toward 1 while R@1 stays at the "
    "input order's (GR2, arXiv 2602.07774: `naive_format` does this; `conditional_format` should not)."
)


def lab_summary(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per variant: identity, R@1, valid rate and top-1-from-slot-1 at the first and last evaluation."""
    rows = []
    for name, run in result["variants"].items():
        first, last = run["evals"][0], run["evals"][-1]
        rows.append({
            "variant": name,
            "identity_start": first["identity"],
            "identity_end": last["identity"],
            "identity_peak": max(e["identity"] for e in run["evals"]),
            "r1_start": first["r1"],
            "r1_end": last["r1"],
            "valid_end": last["valid"],
            "slot1_top_end": last["slot1_top"],
            "kept_groups_mean": sum(s["kept_groups"] for s in run["steps"]) / len(run["steps"]),
        })
    return rows


def lab_markdown(result: dict[str, Any], plot_name: str | None = None) -> str:
    """A markdown report of the lab: settings, per-variant table, how to read it."""
    cfg = result["config"]
    lines = [
        "# Reward lab",
        "",
        f"{result['rows_train']} training rows, {result['rows_eval']} held-out rows; {cfg['steps']} DAPO steps of "
        f"{cfg['prompts_per_step']} prompts x {cfg['group_size']} answers (GRPO advantages, "
        f"clip {cfg['clip_ratio_low']}/{cfg['clip_ratio_high']}, token-mean, zero-variance groups dropped), "
        f"relevance signal {cfg['signal']}, "
        f"seed {cfg['seed']}. Input-order R@1 on the held-out rows: {result['input_order_r1']:.3f}.",
        "",
        "| reward | identity start -> end (peak) | R@1 start -> end | valid (end) | top-1 from slot 1 (end) "
        "| groups kept |",
        "|---|---|---|---|---|---|",
    ]
    for r in lab_summary(result):
        lines.append(
            f"| {r['variant']} | {r['identity_start']:.2f} -> {r['identity_end']:.2f} ({r['identity_peak']:.2f}) "
            f"| {r['r1_start']:.3f} -> {r['r1_end']:.3f} | {r['valid_end']:.2f} | {r['slot1_top_end']:.2f} "
            f"| {r['kept_groups_mean']:.2f} |"
        )
    lines += ["", HACK_NOTE, ""]
    if plot_name:
        lines += [f"![reward lab]({plot_name})", ""]
    return "\n".join(lines)
