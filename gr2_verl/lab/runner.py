"""``gr2 lab`` as a library call: pick the rows, run the lab per reward variant, write the lab folder.

The folder: ``lab.json`` (the result), ``lab.md`` (the table and what it means) and ``lab.png``.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gr2_verl.lab.config import LabConfig
from gr2_verl.rl_row import RLRow


def lab_rows(data: str | None, n_rows: int, seed: int) -> list[RLRow]:
    """``n_rows`` rows of an RL parquet (a seeded sample, not the file's head), or synthetic rows."""
    from gr2_verl.lab.synthetic import synthetic_rl_records
    from gr2_verl.rl_row import parse_rl_record, read_rl_rows

    if data:
        rows = read_rl_rows(data)
        if not rows:
            raise ValueError(f"{data}: 0 rows; nothing to train on")
        return random.Random(seed).sample(rows, min(n_rows, len(rows)))
    return [parse_rl_record(r, "synthetic", i) for i, r in enumerate(synthetic_rl_records(n_rows, seed=seed))]


def lab_variants(spec: str | Sequence[str]) -> list[str]:
    """Reward variant names from ``"all"``, a comma-separated string or a list; ValueError names unknown ones."""
    from reward_fns import VARIANTS

    if spec == "all":
        return list(VARIANTS)
    names = [v.strip() for v in spec.split(",")] if isinstance(spec, str) else list(spec)
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise ValueError(f"--variants: unknown reward variants {unknown}; choose from {list(VARIANTS)}")
    return names


def run_lab_folder(
    out: str | Path, *, data: str | None, n_rows: int, variants: Sequence[str], config: LabConfig
) -> tuple[dict[str, Any], list[Path]]:
    """Run the lab on ``lab_rows(data, ...)`` for each reward variant; returns (result, paths written)."""
    from tqdm import tqdm

    from gr2_verl.io import atomic_write_text
    from gr2_verl.lab.report import lab_markdown
    from gr2_verl.lab.train import run_lab
    from gr2_verl.plots import lab_plot
    from reward_fns import VARIANTS

    variants = lab_variants(variants)
    out = Path(out)
    rows = lab_rows(data, n_rows, config.seed)
    with tqdm(total=config.steps * len(variants), desc="reward lab", unit="step") as bar:
        result = run_lab(rows, {n: VARIANTS[n] for n in variants}, config, progress=bar.update)
    result["data"] = data or "synthetic"
    plot = lab_plot(result, out / "lab.png")
    paths = [
        atomic_write_text(out / "lab.json", json.dumps(result, indent=2)),
        atomic_write_text(out / "lab.md", lab_markdown(result, plot.name)),
        plot,
    ]
    return result, paths
