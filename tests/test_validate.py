"""`gr2 validate`: a real parquet with good and bad rows; errors name the file and the row."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from gr2_verl.cli.main import main
from gr2_verl.types import GroundTruth
from gr2_verl.validate import validate_rl_parquet

GOOD_GT = GroundTruth(candidates=("a", "b", "c"), targets=("b",)).to_json()


def row(ground_truth: str, prompt=None) -> dict:
    return {
        "data_source": "gr2/test",
        "prompt": prompt if prompt is not None else [
            {"role": "system", "content": "You rerank."}, {"role": "user", "content": "rank a, b, c"}],
        "ability": "rerank",
        "reward_model": {"style": "rule", "ground_truth": ground_truth},
        "extra_info": {"split": "test"},  # index and sample_id default to the row number
    }


def test_good_file_passes(tmp_path, capsys):
    path = tmp_path / "test.parquet"
    pq.write_table(pa.Table.from_pylist([row(GOOD_GT), row(GOOD_GT)]), path)
    report = validate_rl_parquet(path)
    assert report.ok and report.rows == 2
    assert main(["validate", str(path)]) == 0
    assert "2 rows, ok" in capsys.readouterr().out


def test_bad_rows_are_named(tmp_path, capsys):
    path = tmp_path / "train.parquet"
    rows = [
        row(GOOD_GT),
        row('{"candidates": ["a", "a"], "targets": ["a"]}'),  # duplicate candidates
        row("not json"),
        row(GOOD_GT, prompt=[]),  # no chat messages
    ]
    pq.write_table(pa.Table.from_pylist(rows), path)
    report = validate_rl_parquet(path)
    assert [e.split(": ")[1] for e in report.errors] == ["row 1", "row 2", "row 3"]
    assert "duplicates" in report.errors[0] and "prompt" in report.errors[2]
    assert main(["validate", str(path)]) == 1
    assert f"{path}: row 2" in capsys.readouterr().out


def test_missing_columns(tmp_path):
    path = tmp_path / "x.parquet"
    pq.write_table(pa.Table.from_pylist([{"prompt": "p"}]), path)
    assert "missing columns" in validate_rl_parquet(path).errors[0]
