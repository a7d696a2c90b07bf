"""Check a veRL RL parquet before training: schema, ground truth, and that the input order scores.

Catches data bugs on CPU in seconds instead of in a reward worker an hour into a GPU run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path


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
    """Check every row with the one RL-row reader; the input order must also score as a valid, unchanged ranking."""
    from gr2_verl.io import read_parquet
    from gr2_verl.outcome import judge
    from gr2_verl.rl_row import duplicate_error, parse_rl_record, rl_records

    report = ValidationReport(path=str(path))
    table = read_parquet(path)  # an unreadable file is an input error, not a row report
    try:
        records = rl_records(table, path)
    except ValueError as e:
        report.errors.append(str(e))
        return report
    report.rows = len(records)
    if not records:
        report.errors.append(f"{path}: 0 rows; an RL file with nothing to train or evaluate on")
    seen: dict = {}
    for i, record in enumerate(records):
        if len(report.errors) >= max_errors:
            report.errors.append(f"{path}: stopped after {max_errors} errors")
            break
        where = f"{path}: row {i}"
        try:
            row = parse_rl_record(record, where, i)
        except ValueError as e:
            report.errors.append(str(e))
            continue
        error = duplicate_error(row, seen, where, i)
        if error:
            report.errors.append(error)
            continue
        copy = json.dumps({"reasoning": "", "ranking": list(row.truth.candidates)})
        if not judge(copy, row.ground_truth).is_identity:
            report.errors.append(f"{where}: the input order does not score as a valid unchanged ranking")
    return report
