"""The dataset folder through veRL's own dataset classes, the reward functions and the validator."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from omegaconf import OmegaConf

import reward_fns
from data_prep.outputs import FILES
from gr2_verl.outcome import judge
from gr2_verl.types import RerankSample, SidMap, parse_ground_truth
from gr2_verl.validate import validate_rl_parquet

SPLITS = ("train", "val", "test")


def _rows(path):
    return pq.read_table(path).to_pylist()


def test_folder_layout_matches_the_contract(small_dir):
    for rel in FILES.values():
        assert (small_dir / rel).is_file(), rel
    summary = json.loads((small_dir / "summary.json").read_text())
    for split in SPLITS:
        assert summary["rl"][split]["rows"] == len(_rows(small_dir / f"rl/{split}.parquet")) > 0
    samples = [RerankSample.from_dict(json.loads(line)) for line in (small_dir / "samples.jsonl").open()]
    assert {s.split for s in samples} == set(SPLITS)
    assert SidMap.load(str(small_dir / "sid_map.json")).uniqueness() == 1.0


@pytest.mark.parametrize("split", SPLITS)
def test_rl_rows_follow_the_schema_and_ground_truth_rules(small_dir, split):
    sid_map = SidMap.load(str(small_dir / "sid_map.json"))
    for index, row in enumerate(_rows(small_dir / f"rl/{split}.parquet")):
        assert row["data_source"] == "gr2/synthetic" and row["ability"] == "rerank"
        assert [m["role"] for m in row["prompt"]] == ["system", "user"]
        assert row["reward_model"]["style"] == "rule"
        extra = row["extra_info"]
        assert extra["split"] == split and extra["index"] == index
        truth = parse_ground_truth(row["reward_model"]["ground_truth"])
        # candidates in TRUE pre-rank order even though the prompt is shuffled
        assert list(truth.candidates) == [sid_map.sid(i) for i in extra["candidate_item_ids"]]
        assert sorted(extra["shown_order"]) == list(range(len(truth.candidates)))
        shown = [truth.candidates[i] for i in extra["shown_order"]]
        user = row["prompt"][1]["content"].split("Candidates to re-rank")[1]
        assert sorted(range(len(shown)), key=lambda i: user.index(shown[i])) == list(range(len(shown)))
        assert extra["target_in_candidates"] and 1 <= extra["target_in_pos"] <= 10
        assert truth.candidates[extra["target_in_pos"] - 1] == truth.targets[0]
        assert len(extra["candidate_popularity"]) == len(truth.candidates)


@pytest.mark.parametrize("split", SPLITS)
def test_validator_passes_every_rl_file(small_dir, split):
    report = validate_rl_parquet(small_dir / f"rl/{split}.parquet")
    assert report.ok, report.errors
    assert report.rows > 0


@pytest.mark.parametrize("variant", reward_fns.VARIANTS)
def test_copying_the_input_order_scores_valid_and_unchanged(small_dir, variant):
    compute = getattr(reward_fns, variant)
    for row in _rows(small_dir / "rl/test.parquet"):
        gt = row["reward_model"]["ground_truth"]
        copy = json.dumps({"reasoning": "keep", "ranking": json.loads(gt)["candidates"]})
        result = compute(row["data_source"], f"<think>x</think>{copy}", gt, row["extra_info"])
        assert result["valid"] == 1.0 and result["is_identity"] == 1.0 and result["r_rank"] == 0.0
        assert result["target_in_pos"] == row["extra_info"]["target_in_pos"]
        assert judge(copy, gt).valid


def test_rlhf_dataset_loads_every_rl_file(small_dir, qwen_tokenizer, tmp_path):
    from verl.utils.dataset.rl_dataset import RLHFDataset

    config = OmegaConf.create(
        {
            "max_prompt_length": 2048,
            "filter_overlong_prompts": True,
            "filter_overlong_prompts_workers": 1,
            "cache_dir": str(tmp_path),
        }
    )
    files = [str(small_dir / f"rl/{split}.parquet") for split in SPLITS]
    dataset = RLHFDataset(files, qwen_tokenizer, config)
    rows = [row for f in files for row in _rows(f)]
    assert len(dataset) == len(rows)  # nothing filtered as overlong
    for i in (0, len(rows) - 1):
        item = dataset[i]
        assert item["raw_prompt"] == rows[i]["prompt"]
        assert item["reward_model"]["ground_truth"] == rows[i]["reward_model"]["ground_truth"]
        assert item["extra_info"]["sample_id"] == rows[i]["extra_info"]["sample_id"]


def test_multiturn_sft_dataset_loads_midtrain(small_dir, qwen_tokenizer):
    from verl.utils.dataset.multiturn_sft_dataset import MultiTurnSFTDataset

    path = small_dir / "sft/midtrain.parquet"
    rows = _rows(path)
    assert {r["task"] for r in rows} == {"next_sid", "sid_to_text", "text_to_sid"}
    # Qwen3's template adds an empty <think></think> to the last assistant turn of a whole conversation
    # but not to a turn rendered alone, so veRL's per-turn check must be relaxed for any Qwen3 SFT file.
    config = OmegaConf.create({"max_length": 1024, "truncation": "error", "ignore_input_ids_mismatch": True})
    dataset = MultiTurnSFTDataset([str(path)], qwen_tokenizer, config)
    assert len(dataset) == len(rows)
    for i in range(0, len(rows), max(1, len(rows) // 5)):
        item = dataset[i]
        trained = item["input_ids"][item["loss_mask"].bool()]
        answer = rows[i]["messages"][-1]["content"]
        assert qwen_tokenizer.decode(trained).strip().startswith(answer)


def test_same_seed_same_bytes(small_dir, make_small, tmp_path):
    make_small(tmp_path)
    for rel in FILES.values():
        assert (tmp_path / rel).read_bytes() == (small_dir / rel).read_bytes(), rel


def test_keep_all_keeps_misses_with_flag(make_small, tmp_path):
    summary, prepared, _, _ = make_small(tmp_path, keep_all=True, shuffle=False)
    rows = _rows(tmp_path / "rl/test.parquet")
    misses = [r for r in rows if not r["extra_info"]["target_in_candidates"]]
    assert len(rows) == summary["samples"]["test"] and misses
    for r in misses:
        assert r["extra_info"]["target_in_pos"] == 0
        assert r["extra_info"]["shown_order"] == list(range(10))
        assert validate_rl_parquet(tmp_path / "rl/test.parquet").ok


def test_sid_collisions_are_dropped_and_counted(make_small, tmp_path):
    _, prepared, _, _ = make_small(tmp_path / "first")
    test_sample = next(s for s in prepared.samples if s.split == "test" and s.target_position > 0)
    a, b = test_sample.candidates[:2]
    from data_prep.synthetic import sequential_sid_map

    sid_map = sequential_sid_map(prepared.item_ids, levels=3, codebook_size=16)
    sid_map.codes[b] = sid_map.codes[a]  # a SID collision between two candidates of one sample
    summary, _, _, _ = make_small(tmp_path / "second", sid_map=sid_map)
    assert summary["rl"]["test"]["sid_collision"] >= 1
    ids = [r["extra_info"]["sample_id"] for r in _rows(tmp_path / "second/rl/test.parquet")]
    assert test_sample.sample_id not in ids
    assert summary["sft_midtrain"]["sid_to_text_skipped"] == 2  # the two items that share a SID


def test_missing_sid_is_named_before_writing(make_small, tmp_path):
    from data_prep.synthetic import sequential_sid_map

    log_items = make_small(tmp_path / "ok")[1].item_ids
    sid_map = sequential_sid_map(log_items[1:], levels=3, codebook_size=16)
    with pytest.raises(ValueError, match=f"item '{log_items[0]}' has no SID"):
        make_small(tmp_path / "bad", sid_map=sid_map)
    assert not (tmp_path / "bad").exists()


def test_small_chunks_give_the_same_rows_and_prompt_statistics(make_small, tmp_path, monkeypatch):
    """Rows are built a chunk at a time; chunks with no picked prompt (most, at scale) must work too."""
    import data_prep.outputs as outputs
    import data_prep.prompt_stats as prompt_stats

    monkeypatch.setattr(prompt_stats, "SAMPLE_ROWS", 3)  # 3 prompts per split: most chunks have none
    whole = make_small(tmp_path / "whole", prompt_stats=True)[0]
    monkeypatch.setattr(outputs, "CHUNK_ROWS", 7)
    chunked = make_small(tmp_path / "chunked", prompt_stats=True)[0]
    assert whole == chunked
    for split in ("train", "val", "test"):
        rows = [pq.read_table(tmp_path / d / FILES[f"rl_{split}"]).to_pylist() for d in ("whole", "chunked")]
        assert rows[0] == rows[1]


def test_sample_lines_are_json_dumps_bytes_for_awkward_strings():
    import numpy as np
    import pyarrow as pa

    from data_prep.outputs import _json_strings, _sample_lines
    from data_prep.sample_table import SampleTable

    items = ["plain", 'quo"te', "back\\slash", "tab\there", "ünï", "nl\nx"]
    samples = [
        RerankSample("u\"1:0", "u\"1", "train", ["plain"], ["quo\"te", "ünï", "nl\nx"], ["ünï"]),
        RerankSample("é:3", "é", "test", [], ["back\\slash", "tab\there", "plain"], ["plain"], [0.0, 2.0, 1.5]),
    ]
    table = SampleTable.from_samples(samples, items)
    got = bytes(_sample_lines(table, _json_strings(pa.array(items)), np.arange(2)))
    want = "".join(json.dumps(s.to_dict(), ensure_ascii=False) + "\n" for s in samples).encode()
    assert got == want
    assert bytes(_sample_lines(table, _json_strings(pa.array(items)), np.array([1]))) == want.split(b"\n")[1] + b"\n"
