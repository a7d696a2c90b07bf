"""The attempts log: a crash-cut tail is dropped, repeated keys are ignored, corruption names the line."""

from __future__ import annotations

import json

import pytest

from gr2_verl.traces.store import AttemptLog


def rec(key: str, attempt: int, **extra) -> dict:
    return {"sample_key": key, "attempt": attempt, "accepted": False, **extra}


def test_append_then_reload(tmp_path):
    log = AttemptLog(tmp_path / "a.jsonl")
    log.append(rec("s1", 1))
    log.append(rec("s0", 2))
    log.append(rec("s0", 1))
    with pytest.raises(ValueError, match="already recorded"):
        log.append(rec("s0", 1))
    log.close()
    again = AttemptLog(tmp_path / "a.jsonl")
    assert [(k, [r["attempt"] for r in v]) for k, v in again.by_sample().items()] == [("s0", [1, 2]), ("s1", [1])]
    again.close()


def test_cut_tail_is_truncated_and_appends_stay_clean(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps(rec("s0", 1)) + "\n" + '{"sample_key": "s0", "att')  # killed mid-write
    log = AttemptLog(path)
    assert log.truncated_bytes == len('{"sample_key": "s0", "att') and list(log.records) == [("s0", 1)]
    log.append(rec("s0", 2))
    log.close()
    assert [json.loads(line)["attempt"] for line in path.read_text().splitlines()] == [1, 2]


def test_repeated_keys_count_once(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text("".join(json.dumps(rec("s0", 1, text=t)) + "\n" for t in ("first", "second")))
    log = AttemptLog(path)
    assert log.duplicates == 1 and log.records[("s0", 1)]["text"] == "first"
    log.close()


def test_corrupt_line_names_file_and_line(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps(rec("s0", 1)) + "\nnot json\n" + json.dumps(rec("s0", 2)) + "\n")
    with pytest.raises(ValueError, match="a.jsonl: line 2: not an attempt record"):
        AttemptLog(path)
