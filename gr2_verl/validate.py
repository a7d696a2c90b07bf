"""Check a veRL RL parquet before training: schema, ground truth, and that the input order scores.

Catches data bugs on CPU in seconds instead of in a reward worker an hour into a GPU run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from gr2_verl.types import GroundTruth

RL_COLUMNS = ("data_source", "prompt", "ability", "reward_model", "extra_info")


@dataclass
class ValidationReport:
    """Per-file result: rows checked and one error line per bad row (file and row named)."""

    path: str
    rows: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def validate_rl_parquet(path: str | Path, max_errors: int = 20) -> ValidationReport:
    """Validate every row of an RL parquet; the input order must parse as a valid, unchanged ranking."""
    from gr2_verl.io import read_parquet
    from gr2_verl.outcome import judge
    from gr2_verl.types import parse_ground_truth

    report = ValidationReport(path=str(path))
    table = read_parquet(path)
    missing = [c for c in RL_COLUMNS if c not in table.column_names]
    if missing:
        report.errors.append(f"{path}: missing columns {missing}")
        return report
    rows = table.select(["prompt", "reward_model", "extra_info"]).to_pylist()
    report.rows = len(rows)
    if not rows:
        report.errors.append(f"{path}: 0 rows; an RL file with nothing to train or evaluate on")
    for i, row in enumerate(rows):
        if len(report.errors) >= max_errors:
            report.errors.append(f"{path}: stopped after {max_errors} errors")
            break
        where = f"{path}: row {i}"
        prompt = row["prompt"]
        if not prompt or not all(isinstance(m, dict) and {"role", "content"} <= set(m) for m in prompt):
            report.errors.append(f"{where}: field 'prompt' must be a list of chat messages with role and content")
            continue
        try:
            truth = parse_ground_truth((row["reward_model"] or {}).get("ground_truth"))
        except ValueError as e:
            report.errors.append(f"{where}: reward_model.{e}")
            continue
        copy = json.dumps({"reasoning": "", "ranking": list(truth.candidates)})
        if not judge(copy, truth.to_json()).is_identity:
            report.errors.append(f"{where}: the input order does not score as a valid unchanged ranking")
        report.errors += [f"{where}: {e}" for e in _extra_info_disagreements(truth, row["extra_info"] or {})]
    return report


def _extra_info_disagreements(truth: GroundTruth, extra: dict) -> list[str]:
    """Where ``extra_info`` contradicts the ground truth: its K-long lists, and the target flags.

    Evaluation takes positions and popularity from ``extra_info``; a row whose two halves disagree scores
    the wrong candidate without any error downstream.
    """
    errors = []
    for name in ("candidate_item_ids", "candidate_popularity", "shown_order"):
        value = extra.get(name)
        if value is not None and len(value) != truth.k:
            errors.append(f"field 'extra_info.{name}' has {len(value)} entries, the ground truth {truth.k} candidates")
    shown = extra.get("shown_order")
    if shown is not None and len(shown) == truth.k and sorted(shown) != list(range(truth.k)):
        errors.append(f"field 'extra_info.shown_order' is not a permutation of 0..{truth.k - 1}")
    position = truth.candidates.index(truth.targets[0]) + 1 if truth.targets[0] in truth.candidates else 0
    flag = extra.get("target_in_candidates")
    if flag is not None and bool(flag) != (position > 0):
        errors.append(
            f"field 'extra_info.target_in_candidates' is {bool(flag)} but the ground truth's first target is "
            f"{'at position ' + str(position) if position else 'not among its candidates'}"
        )
    pos = extra.get("target_in_pos")
    if pos is not None and int(pos) != position:
        errors.append(f"field 'extra_info.target_in_pos' is {pos}; the ground truth's first target is at {position}")
    return errors
