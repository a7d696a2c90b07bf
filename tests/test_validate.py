"""`gr2 validate`: a real parquet with good and bad rows; errors name the file and the row."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

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


def test_zero_rows_fail(tmp_path, capsys):
    path = tmp_path / "empty.parquet"
    pq.write_table(pa.Table.from_pylist([row(GOOD_GT)]).slice(0, 0), path)  # schema, no rows
    assert validate_rl_parquet(path).errors == [f"{path}: 0 rows; an RL file with nothing to train or evaluate on"]
    assert main(["validate", str(path)]) == 1
    assert "0 rows" in capsys.readouterr().out


@pytest.mark.parametrize(
    "extra, message",
    [
        # each row's ground truth: candidates a, b, c; target b (position 2)
        ({"target_in_candidates": False}, "'extra_info.target_in_candidates' is False but the ground truth's first "
                                          "target is at position 2"),
        ({"target_in_pos": 1}, "'extra_info.target_in_pos' is 1; the ground truth's first target is at 2"),
        ({"candidate_item_ids": ["x", "y"]}, "'extra_info.candidate_item_ids' has 2 entries, the ground truth 3 items"),
        ({"candidate_popularity": [1, 2, 3, 4]}, "'extra_info.candidate_popularity' has 4 entries"),
        ({"shown_order": [0, 0, 1]}, "'extra_info.shown_order' is not a permutation of 0..2"),
    ],
)
def test_extra_info_that_disagrees_with_the_ground_truth(tmp_path, extra, message):
    path = tmp_path / "x.parquet"
    pq.write_table(pa.Table.from_pylist([dict(row(GOOD_GT), extra_info={"index": 0, **extra})]), path)
    errors = validate_rl_parquet(path).errors
    assert len(errors) == 1 and errors[0].startswith(f"{path}: row 0: field ") and message in errors[0]


def test_target_missing_while_flagged_in_candidates(tmp_path):
    miss = GroundTruth(candidates=("a", "b", "c"), targets=("z",)).to_json()  # a pre-ranker miss
    path = tmp_path / "x.parquet"
    rows = [dict(row(miss), extra_info={"index": 0, "target_in_candidates": True}),
            dict(row(miss), extra_info={"index": 1, "target_in_candidates": False, "target_in_pos": 0})]  # honest
    pq.write_table(pa.Table.from_pylist(rows), path)
    errors = validate_rl_parquet(path).errors
    assert errors == [f"{path}: row 0: field 'extra_info.target_in_candidates' is True but the ground truth's first "
                      "target is not among its candidates"]
