"""Shared types: the ground-truth contract and the SID map file, with errors that name the field."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gr2_verl.types import GroundTruth, RerankSample, SidMap, parse_ground_truth, sid_string

CANDS = [sid_string([i, i, i, i]) for i in range(10)]


def test_ground_truth_round_trip_and_dict_form():
    gt = GroundTruth(candidates=tuple(CANDS), targets=(CANDS[3],))
    assert parse_ground_truth(gt.to_json()) == gt
    assert parse_ground_truth({"candidates": CANDS, "targets": [CANDS[3]]}) == gt
    # parquet round trips hand back numpy arrays
    assert parse_ground_truth({"candidates": np.array(CANDS), "targets": np.array([CANDS[3]])}) == gt


def test_relevance_uses_grades_or_targets():
    gt = parse_ground_truth({"candidates": ["a", "b", "c"], "targets": ["b"]})
    assert gt.relevance() == (0.0, 1.0, 0.0)
    graded = parse_ground_truth({"candidates": ["a", "b", "c"], "targets": ["b"], "grades": [1, 3, 0]})
    assert graded.relevance() == (1.0, 3.0, 0.0)


@pytest.mark.parametrize(
    "bad,field",
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ({"targets": ["a"]}, "'candidates'"),
        ({"candidates": ["a", "b"]}, "'targets'"),
        ({"candidates": ["a", "a"], "targets": ["a"]}, "duplicates"),
        ({"candidates": "a,b", "targets": ["a"]}, "'candidates'"),
        ({"candidates": ["a", 2], "targets": ["a"]}, "'candidates'"),
        ({"candidates": ["a", "b"], "targets": []}, "'targets'"),
        ({"candidates": ["a", "b"], "targets": ["a"], "grades": [1]}, "'grades'"),
        ({"candidates": ["a", "b"], "targets": ["a"], "grades": [1, float("nan")]}, "'grades'"),
        (42, "JSON string or a dict"),
    ],
)
def test_bad_ground_truth_names_the_field(bad, field):
    with pytest.raises(ValueError, match=field):
        parse_ground_truth(bad)


def test_sid_map_round_trip_vocabulary_and_uniqueness(tmp_path):
    sids = SidMap(levels=3, codebook_size=4, codes={"i1": (0, 1, 2), "i2": (0, 1, 2), "i3": (3, 3, 3)})
    path = tmp_path / "sid_map.json"
    sids.save(path)
    loaded = SidMap.load(path)
    assert loaded == sids
    assert loaded.sid("i3") == "<|sid_begin|><s_a_3><s_b_3><s_c_3><|sid_end|>"
    assert len(loaded.vocabulary()) == 2 + 3 * 4
    assert loaded.uniqueness() == pytest.approx(1 / 3)
    with pytest.raises(KeyError, match="i9"):
        loaded.sid("i9")


@pytest.mark.parametrize(
    "data,field",
    [
        ({"levels": 2, "codebook_size": 4}, "'codes'"),
        ({"levels": 2, "codebook_size": 4, "codes": {"x": [1]}}, "item 'x'"),
        ({"levels": 2, "codebook_size": 4, "codes": {"x": [1, 4]}}, "item 'x'"),
        ({"levels": 0, "codebook_size": 4, "codes": {}}, "'levels'"),
    ],
)
def test_bad_sid_map_names_file_and_field(tmp_path, data, field):
    path = tmp_path / "map.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=field) as err:
        SidMap.load(path)
    assert str(path) in str(err.value)


def test_rerank_sample_validation_names_where():
    row = {
        "sample_id": "s",
        "user_id": "u",
        "split": "test",
        "history": ["1"],
        "candidates": ["2", "2"],
        "targets": ["2"],
    }
    with pytest.raises(ValueError, match="samples.jsonl line 7: field 'candidates'"):
        RerankSample.from_dict(row, where="samples.jsonl line 7")
    ok = RerankSample.from_dict({**row, "candidates": ["3", "2"]})
    assert ok.target_position == 2
    assert RerankSample.from_dict(ok.to_dict()) == ok


def test_atomic_write_leaves_a_readable_file_and_no_temp_on_failure(tmp_path):
    from gr2_verl.io import atomic_write, atomic_write_text

    path = atomic_write_text(tmp_path / "a.txt", "hello")
    assert path.read_text() == "hello" and (path.stat().st_mode & 0o777) == 0o644

    def broken(tmp: str) -> None:
        with open(tmp, "w") as f:
            f.write("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(path, broken)
    assert path.read_text() == "hello" and sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]
