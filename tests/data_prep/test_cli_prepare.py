"""``gr2 prepare custom`` end to end on small files, with and without the user's own candidate lists."""

from __future__ import annotations

import json

import pyarrow.parquet as pq

from data_prep.synthetic import sequential_sid_map, synthetic_log
from gr2_verl.cli.main import main
from gr2_verl.validate import validate_rl_parquet


def _files(tmp_path):
    log, items = synthetic_log(30, 40, 8, seed=2)
    log.to_csv(tmp_path / "log.csv", index=False)
    with open(tmp_path / "items.jsonl", "w") as f:
        for item in items.values():
            f.write(
                json.dumps({"item_id": item.item_id, "title": item.title, "categories": list(item.categories)}) + "\n"
            )
    sequential_sid_map(list(items), levels=3, codebook_size=16).save(str(tmp_path / "sids.json"))
    return ["--interactions", str(tmp_path / "log.csv"), "--items", str(tmp_path / "items.jsonl")]


def test_prepare_custom_writes_the_folder_and_reports(tmp_path, capsys):
    args = _files(tmp_path)
    out = tmp_path / "out"
    code = main(["prepare", "custom", *args, "--name", "shop", "--sid-map", str(tmp_path / "sids.json"),
                 "--out", str(out), "--k-core", "3", "--shuffle"])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert f"wrote {out / 'rl/train.parquet'}" in printed and "candidates by popularity" in printed
    assert not list(tmp_path.glob(".gr2-candidates-*"))  # the candidates' scratch files went with the run
    summary = json.loads((out / "summary.json").read_text())
    assert (
        summary["prompt_tokens"]["test"]["with_sid_tokens"]["median"]
        < summary["prompt_tokens"]["test"]["base_tokenizer"]["median"]
    )
    assert validate_rl_parquet(out / "rl/test.parquet").ok
    assert pq.read_table(out / "rl/test.parquet").to_pylist()[0]["data_source"] == "gr2/shop"

    # the user's own lists replace the pre-ranker: feed back the test samples' lists reversed
    samples = [json.loads(line) for line in (out / "samples.jsonl").open()]
    tests = [s for s in samples if s["split"] == "test"]
    with open(tmp_path / "lists.jsonl", "w") as f:
        for s in tests:
            f.write(json.dumps({"sample_id": s["sample_id"], "candidates": s["candidates"][::-1]}) + "\n")
    out2 = tmp_path / "out2"
    code = main(["prepare", "custom", *args, "--candidates", str(tmp_path / "lists.jsonl"), "--keep-all",
                 "--sid-map", str(tmp_path / "sids.json"), "--out", str(out2), "--k-core", "3"])  # fmt: skip
    assert code == 0
    again = [json.loads(line) for line in (out2 / "samples.jsonl").open()]
    assert [s["candidates"] for s in again] == [s["candidates"][::-1] for s in tests]
    assert len(pq.read_table(out2 / "rl/test.parquet")) == len(tests)  # --keep-all: misses kept too
    given = json.loads((out2 / "summary.json").read_text())["preranker"]["metrics"]["given lists"]
    assert list(given) == ["test"] and given["test"]["n"] == len(tests)  # scored only where a list was given


def test_prepare_reports_bad_input_and_fails(tmp_path, capsys):
    args = _files(tmp_path)
    (tmp_path / "items.jsonl").write_text('{"item_id": "i1"}\n')
    code = main(["prepare", "custom", *args, "--sid-map", str(tmp_path / "sids.json"), "--out", str(tmp_path / "o")])
    assert code == 1
    assert "items.jsonl: line 1: field 'title'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_prepare_without_a_sid_map_fits_one(tmp_path, capsys):
    from gr2_verl.types import SidMap

    args = _files(tmp_path)
    out = tmp_path / "out"
    assert main(["prepare", "custom", *args, "--out", str(out), "--k-core", "3"]) == 0
    assert "fitting semantic IDs" in capsys.readouterr().out
    sid_map = SidMap.load(out / "sid_map.json")
    assert sid_map.levels == 4 and sid_map.uniqueness() == 1.0  # the unique last level at work
    assert validate_rl_parquet(out / "rl/test.parquet").ok
