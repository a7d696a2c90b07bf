"""gr2 quickstart on a reduced setting: real MovieLens-100K, fast SIDs, a short lab; every output is written."""

from __future__ import annotations

import json

import pytest

from gr2_verl.rl_row import read_rl_rows


@pytest.mark.slow
def test_quickstart_reduced(tmp_path, capsys):
    from gr2_verl.cli.main import main

    out = tmp_path / "qs"
    argv = ["quickstart", "--out", str(out), "--sid-method", "rqkmeans", "--lab-steps", "3",
            "--lab-variants", "naive_format,conditional_format", "--bootstrap", "50"]
    assert main(argv) == 0
    for rel in ("report.md", "timings.json", "reward_table.json", "data/sid_map.json", "data/rl/train.parquet",
                "data/rl/test.parquet", "eval/eval.json", "eval/metrics.png", "lab/lab.json", "lab/lab.png"):
        assert (out / rel).stat().st_size > 0, rel
    report = (out / "report.md").read_text()
    assert "bash recipes/run_all.sh" in report and "gr2 traces --rl" in report  # the next GPU commands
    assert "run `gr2 mini`" in report  # where to watch RL train on a CPU
    baselines = json.loads((out / "eval" / "eval.json").read_text())["methods"]
    assert baselines["oracle"]["in_list"]["R@1"]["mean"] == 1.0
    assert baselines["input_order"]["in_list"]["R@1"]["mean"] > baselines["random"]["in_list"]["R@1"]["mean"]
    assert len(read_rl_rows(out / "data" / "rl" / "test.parquet")) > 100
    assert "wrote" in capsys.readouterr().out
