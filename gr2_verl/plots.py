"""PNG plots for evaluation results and the reward lab (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from gr2_verl.io import atomic_write

COLORS = {"model": "#d62728", "input_order": "#1f77b4", "shown_order": "#17becf", "random": "#7f7f7f",
          "popularity": "#ff7f0e", "oracle": "#2ca02c"}
VARIANT_COLORS = {"naive_format": "#d62728", "conditional_format": "#2ca02c", "rank_promotion": "#1f77b4",
                  "identity_gated": "#9467bd", "listwise_ndcg": "#ff7f0e"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    def write(tmp: str) -> None:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")

    atomic_write(path, write)
    _pyplot().close(fig)
    return path


def eval_plots(result: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """``metrics.png`` (every method, both subsets, 95% CIs) and, with a model, ``positions.png``."""
    plt = _pyplot()
    out_dir = Path(out_dir)
    methods = list(result["methods"])
    metrics = list(next(iter(result["methods"].values()))["in_list"])
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.2), sharey=True)
    width = 0.8 / len(methods)
    x = np.arange(len(metrics))
    subsets = (("in_list", "target in list"), ("end_to_end", "end to end (miss = 0)"))
    for ax, (subset, title) in zip(axes, subsets, strict=True):
        for i, name in enumerate(methods):
            stats = [result["methods"][name][subset][m] for m in metrics]
            mean = np.array([s["mean"] for s in stats])
            err = np.array([[s["mean"] - s["lo"] for s in stats], [s["hi"] - s["mean"] for s in stats]])
            ax.bar(x + (i - (len(methods) - 1) / 2) * width, mean, width, yerr=err, capsize=2, label=name,
                   color=COLORS.get(name))
        ax.set_xticks(x, metrics)
        ax.set_title(f"{title} ({result['rows_in_list'] if subset == 'in_list' else result['rows']} rows)")
        ax.set_ylim(0, 1.05)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("mean, 95% bootstrap CI")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncols=len(methods), fontsize=9, bbox_to_anchor=(0.5, -0.06))
    paths = [_save(fig, out_dir / "metrics.png")]
    if "top1_input_pos_hist" in result:
        fig, ax = plt.subplots(figsize=(7, 3.8))
        k = result["k"]
        pos = np.arange(1, k + 1)
        top1 = np.array(result["top1_input_pos_hist"], dtype=float)
        target = np.array(result["target_input_pos_hist"], dtype=float)
        ax.bar(pos - 0.2, top1 / max(top1.sum(), 1), 0.4, label="model's top-1 (valid answers)", color=COLORS["model"])
        ax.bar(pos + 0.2, target / max(target.sum(), 1), 0.4, label="where the target is", color=COLORS["input_order"])
        ax.set_xticks(pos)
        ax.set_xlabel("input (pre-rank) position")
        ax.set_ylabel("share")
        ident = result["diagnostics"]["identity"]["mean"]
        ax.set_title(f"Position bias: where the chosen top-1 sat (identity rate {ident:.2f})")
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        paths.append(_save(fig, out_dir / "positions.png"))
    return paths


def _smooth(values: list[float], window: int = 5) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if len(arr) < window:
        return arr
    kernel = np.ones(window) / window
    padded = np.concatenate([np.full(window - 1, arr[0]), arr])
    return np.convolve(padded, kernel, mode="valid")


def lab_plot(result: dict[str, Any], path: str | Path) -> Path:
    """One panel per measure, one line per reward variant: reward, identity rate, top-1 from slot 1, R@1."""
    plt = _pyplot()
    panels = (
        ("reward", "mean reward (training batches)", "steps"),
        ("identity", "identity rate (copies the input)", "steps"),
        ("slot1_top", "top-1 taken from the first slot", "steps"),
        ("r1", "R@1 on held-out rows", "evals"),
    )
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.9))
    for ax, (key, title, source) in zip(axes, panels, strict=True):
        for name, run in result["variants"].items():
            rows = run[source]
            steps = [r["step"] for r in rows]
            values = [r[key] for r in rows]
            style = {"color": VARIANT_COLORS.get(name), "label": name}
            if source == "evals":
                ax.plot(steps, values, marker="o", ms=3, **style)
            else:
                ax.plot(steps, _smooth(values), **style)
        if key == "r1":
            ax.axhline(result["input_order_r1"], color="black", ls="--", lw=1, label="input order")
        if key in ("identity", "slot1_top"):
            ax.set_ylim(-0.02, 1.02)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("training step")
        ax.grid(alpha=0.3)
    axes[-1].legend(fontsize=8)
    fig.suptitle(f"Reward lab: {result['rows_train']} training rows, signal {result['config']['signal']}, "
                 f"{result['config']['steps']} DAPO steps", fontsize=11)
    return _save(fig, Path(path))
