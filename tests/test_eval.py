"""gr2 eval: metrics on hand-computed cases, the invalid-answer fallback, baselines, loaders and the CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from gr2_verl.evaluation import Generation, evaluate, load_generations
from gr2_verl.evaluation.scoring import DIAGNOSTICS, RANK_METRICS, bootstrap, score_answer
from gr2_verl.lab.synthetic import synthetic_rl_records
from gr2_verl.rl_row import parse_rl_record, read_rl_rows, write_rl_parquet
from gr2_verl.types import GroundTruth, sid_string

CANDS = tuple(sid_string([i, i, i, i]) for i in range(10))


def _row(target_pos: int, index: int = 0, popularity=None, shown=None):
    """A row with the target at 1-based input position ``target_pos`` (0: a pre-ranker miss)."""
    target = CANDS[target_pos - 1] if target_pos else sid_string([99, 9, 9, 9])
    extra = {"index": index, "shown_order": shown or list(range(10))}
    if popularity is not None:
        extra["candidate_popularity"] = popularity
    gt = GroundTruth(CANDS, (target,)).to_json()
    prompt = [{"role": "system", "content": "rerank"}, {"role": "user", "content": " ".join(CANDS)}]
    return parse_rl_record({"prompt": prompt, "reward_model": {"ground_truth": gt}, "extra_info": extra}, "test", index)


def _answer(order) -> str:
    return "<think>compare</think>" + json.dumps({"reasoning": "r", "ranking": list(order)})


def _metrics(text, row) -> dict[str, float]:
    return dict(zip(RANK_METRICS, score_answer(text, row).metrics, strict=True))


def _diags(text, row) -> dict[str, float]:
    return dict(zip(DIAGNOSTICS, score_answer(text, row).diagnostics, strict=True))


# (case, target input position, answer order as input indices, expected R@1, R@3, R@5, N@3, N@5, MRR)
CASES = [
    ("target moved 4 -> 1", 4, [3, 0, 1, 2, 4, 5, 6, 7, 8, 9], (1, 1, 1, 1.0, 1.0, 1.0)),
    ("target at 2", 1, [1, 0, 2, 3, 4, 5, 6, 7, 8, 9], (0, 1, 1, 1 / math.log2(3), 1 / math.log2(3), 0.5)),
    ("target at 3", 3, list(range(10)), (0, 1, 1, 0.5, 0.5, 1 / 3)),
    ("target at 5", 1, [1, 2, 3, 4, 0, 5, 6, 7, 8, 9], (0, 0, 1, 0.0, 1 / math.log2(6), 0.2)),
    ("target last", 1, [1, 2, 3, 4, 5, 6, 7, 8, 9, 0], (0, 0, 0, 0.0, 0.0, 0.1)),
]


@pytest.mark.parametrize("case,target_pos,order,expected", CASES, ids=[c[0] for c in CASES])
def test_rank_metrics_hand_computed(case, target_pos, order, expected):
    got = _metrics(_answer([CANDS[i] for i in order]), _row(target_pos))
    assert [got[m] for m in RANK_METRICS] == pytest.approx(expected)


def test_invalid_answer_falls_back_to_input_order():
    row = _row(3)
    unparseable = _metrics("I think the third one.", row)
    assert unparseable == _metrics(_answer(CANDS), row)  # no JSON -> evaluated as the input order
    # a partial answer keeps its valid entries first, then the rest in input order: target 3rd -> 2nd
    partial = _metrics(_answer([CANDS[5], CANDS[2]]), row)
    assert partial["R@1"] == 0 and partial["MRR"] == 0.5
    d = _diags("I think the third one.", row)
    assert d["valid"] == 0 and d["identity"] == 0  # a fallback never counts as copying
    assert math.isnan(d["kendall_tau"]) and math.isnan(d["top1_input_pos"])


def test_diagnostics_identity_promotion_position():
    row = _row(4)
    copy = _diags(_answer(CANDS), row)
    assert copy["identity"] == 1 and copy["kendall_tau"] == 1 and copy["unchanged"] == 1 and copy["top1_input_pos"] == 1
    up = _diags(_answer([CANDS[3], *CANDS[:3], *CANDS[4:]]), row)
    assert up["promoted"] == 1 and up["rank_gain"] == 3 and up["top1_input_pos"] == 4 and up["identity"] == 0
    rev = _diags(_answer(CANDS[::-1]), row)
    assert rev["demoted"] == 1 and rev["rank_gain"] == -3 and rev["kendall_tau"] == -1  # reversed: 4th -> 7th
    miss = _diags(_answer(CANDS), _row(0))
    assert math.isnan(miss["promoted"])  # no movement without the target in the list


def test_baselines_and_subsets():
    pops = [5, 9, 1, 1, 1, 1, 1, 1, 1, 100]  # most popular candidate is the 10th, then the 2nd
    rows = [_row(1, 0, pops), _row(10, 1, pops), _row(2, 2, pops), _row(0, 3, pops)]
    res = evaluate(rows, None, n_boot=50)
    m = res["methods"]
    assert m["input_order"]["in_list"]["R@1"]["mean"] == pytest.approx(1 / 3)
    assert m["input_order"]["end_to_end"]["R@1"]["mean"] == pytest.approx(1 / 4)  # the miss counts 0
    assert m["oracle"]["in_list"]["R@1"]["mean"] == 1 and m["oracle"]["end_to_end"]["R@1"]["mean"] == 0.75
    assert m["popularity"]["in_list"]["R@1"]["mean"] == pytest.approx(1 / 3)  # the 10th goes first
    assert m["popularity"]["in_list"]["MRR"]["mean"] == pytest.approx((1 / 3 + 1 + 1 / 2) / 3)
    assert "shown_order" not in m  # nothing shuffled
    assert res["rows_in_list"] == 3 and res["target_input_pos_hist"][0] == 1


def test_random_baseline_near_chance():
    rows = [parse_rl_record(r, "synthetic", i) for i, r in enumerate(synthetic_rl_records(2000, seed=3))]
    res = evaluate(rows, None, n_boot=100)
    r1 = res["methods"]["random"]["in_list"]["R@1"]
    assert r1["lo"] < 0.1 < r1["hi"] + 0.02 and abs(r1["mean"] - 0.1) < 0.025


def test_bootstrap_ci_covers_mean_and_ignores_nan():
    values = np.array([[1.0, np.nan], [0.0, 1.0], [1.0, 0.0], [0.0, np.nan]] * 25)
    out = bootstrap(values, ["a", "b"], n_boot=300)
    assert out["a"]["mean"] == 0.5 and out["a"]["lo"] < 0.5 < out["a"]["hi"]
    assert out["b"]["n"] == 50 and out["b"]["mean"] == 0.5


def test_verl_dump_and_index_files_round_trip(tmp_path):
    path = write_rl_parquet(synthetic_rl_records(60, seed=1, hit_rate=0.8, shuffle=True), tmp_path / "test.parquet")
    rows = read_rl_rows(path)
    dump = tmp_path / "10.jsonl"
    with open(dump, "w") as f:  # veRL's _write_generations fields, two answers per row (val n=2)
        for r in rows:
            for text in (_answer(r.shown_candidates), "no answer"):
                f.write(json.dumps({"input": "p", "output": text, "gts": r.ground_truth, "score": 0.0,
                                    "step": 10, "reward": 0.0}) + "\n")
    res = evaluate(rows, load_generations(dump, rows), n_boot=50)
    assert res["generations"] == 120 and res["status_counts"] == {"ok": 60, "no_json": 60}
    assert res["diagnostics"]["valid"]["mean"] == 0.5
    assert res["diagnostics"]["copies_shown"]["mean"] == 0.5  # copying a shuffled prompt is not identity
    assert res["diagnostics"]["identity"]["mean"] < 0.1 and "shown_order" in res["methods"]
    by_index = tmp_path / "gens.jsonl"
    by_index.write_text("".join(json.dumps({"index": r.index, "response": _answer(r.truth.candidates)}) + "\n"
                                for r in rows))
    res = evaluate(rows, load_generations(by_index, rows), n_boot=50)
    assert res["diagnostics"]["identity"]["mean"] == 1
    assert res["delta_vs_input_order"]["in_list"]["R@1"]["mean"] == 0


@pytest.mark.parametrize(
    "line,message",
    [
        ({"index": 999, "output": "x"}, "line 1: field 'index' = 999 is not a row"),  # foreign index
        ({"gts": "{}", "output": "x"}, "line 1: field 'gts' matches no ground truth"),  # foreign ground truth
        ({"index": 0}, "no output text field"),  # nothing to score
    ],
)
def test_generation_errors_name_file_and_line(tmp_path, line, message):
    path = write_rl_parquet(synthetic_rl_records(3), tmp_path / "test.parquet")
    gens = tmp_path / "g.jsonl"
    gens.write_text(json.dumps(line) + "\n")
    with pytest.raises(ValueError, match=message) as err:
        load_generations(gens, read_rl_rows(path))
    assert str(gens) in str(err.value)


def _twin_rows(tmp_path):
    """Test rows 0 and 1 with the same candidates and target (same ``gts``), as real data can have."""
    records = synthetic_rl_records(3, seed=4)
    records[1]["reward_model"] = dict(records[0]["reward_model"])
    same = ("shown_order", "target_in_pos", "target_in_candidates")  # extra_info must agree with the ground truth
    records[1]["extra_info"] = {**records[1]["extra_info"], **{k: records[0]["extra_info"][k] for k in same}}
    return read_rl_rows(write_rl_parquet(records, tmp_path / "test.parquet"))


def _dump(path, rows, answers, with_index=True):
    with open(path, "w") as f:  # veRL's _write_generations fields plus our reward manager's row_index
        for r, text in zip(rows, answers, strict=True):
            line = {"input": "p", "output": text, "gts": r.ground_truth, "score": 0.0, "step": 0}
            f.write(json.dumps({**line, "row_index": r.index} if with_index else line) + "\n")
    return path


def test_twin_rows_pair_by_row_index_and_gts_alone_is_refused(tmp_path):
    rows = _twin_rows(tmp_path)
    assert rows[0].ground_truth == rows[1].ground_truth
    answers = [_answer(rows[0].truth.candidates), "no answer", _answer(rows[2].truth.candidates)]
    gens = load_generations(_dump(tmp_path / "0.jsonl", rows, answers), rows)
    assert [(g.index, g.text) for g in gens] == [(r.index, a) for r, a in zip(rows, answers, strict=True)]
    with pytest.raises(ValueError, match="1 test rows share their ground truth"):  # used to collapse silently
        load_generations(_dump(tmp_path / "1.jsonl", rows, answers, with_index=False), rows)


def test_a_test_row_without_generation_is_refused(tmp_path):
    # veRL's filter_overlong_prompts dropped row 2: evaluating the other two would be a silent subset
    rows = _twin_rows(tmp_path)
    dump = _dump(tmp_path / "0.jsonl", rows[:2], ["a", "b"])
    with pytest.raises(ValueError, match=r"1 of 3 test rows have no generation \(first: \[2\]\).*max_prompt_length"):
        load_generations(dump, rows)


def test_cli_reports_bad_input_without_a_traceback(tmp_path, capsys):
    from gr2_verl.cli.main import main

    rows = _twin_rows(tmp_path)
    dump = _dump(tmp_path / "0.jsonl", rows[:2], ["a", "b"])
    # exit 1: the one error path of cli/main.py
    assert main(["eval", "--test", str(tmp_path / "test.parquet"), "--generations", str(dump)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("gr2 eval: ") and "no generation" in err and "Traceback" not in err


def test_bad_ground_truth_names_row(tmp_path):
    records = synthetic_rl_records(3)
    records[2]["reward_model"]["ground_truth"] = json.dumps({"candidates": ["a", "a"], "targets": ["a"]})
    path = write_rl_parquet(records, tmp_path / "test.parquet")
    with pytest.raises(ValueError, match=r"test.parquet: row 2: field 'reward_model.ground_truth.*duplicates"):
        read_rl_rows(path)


def test_cli_writes_json_markdown_and_plots(tmp_path, capsys):
    from gr2_verl.cli.main import main

    path = write_rl_parquet(synthetic_rl_records(200, seed=2, hit_rate=0.9), tmp_path / "test.parquet")
    rows = read_rl_rows(path)
    gens = tmp_path / "gens.jsonl"
    gens.write_text("".join(json.dumps({"index": r.index, "output": _answer(r.truth.candidates[::-1])}) + "\n"
                            for r in rows))
    out = tmp_path / "eval"
    assert main(["eval", "--test", str(path), "--generations", str(gens), "--out", str(out), "--bootstrap", "100"]) == 0
    printed = capsys.readouterr().out
    for name in ("eval.json", "eval.md", "metrics.png", "positions.png"):
        assert (out / name).stat().st_size > 0 and f"wrote {out / name}" in printed
    result = json.loads((out / "eval.json").read_text())
    assert result["diagnostics"]["kendall_tau"]["mean"] == -1
    assert "counts as the input order" in (out / "eval.md").read_text()  # the fallback is stated


def test_an_index_from_another_test_file_is_refused(tmp_path):
    """Same size, other rows: the index matches, the dumped ground truth does not."""
    rows = read_rl_rows(write_rl_parquet(synthetic_rl_records(3, seed=1), tmp_path / "test.parquet"))
    other = read_rl_rows(write_rl_parquet(synthetic_rl_records(3, seed=2), tmp_path / "other.parquet"))
    dump = _dump(tmp_path / "0.jsonl", other, ["a", "b", "c"])
    with pytest.raises(ValueError, match="line 1: field 'gts' differs from the ground truth of test row 0"):
        load_generations(dump, rows)
    assert len(load_generations(_dump(tmp_path / "1.jsonl", rows, ["a", "b", "c"]), rows)) == 3


def test_identity_is_a_share_of_all_answers_and_tau_of_valid_ones():
    """One definition, as in the training-step metrics: an invalid answer copies nothing."""
    row = _row(3)
    result = evaluate([row], [Generation(0, _answer(CANDS)), Generation(0, "no json at all")], n_boot=10)
    diags = result["diagnostics"]
    assert (diags["valid"]["mean"], diags["identity"]["mean"], diags["kendall_tau"]["mean"]) == (0.5, 0.5, 1.0)
    assert "shares of all answers" in result["fallback"]
