"""The miniature GR2's wiring at the tiniest sizes (the full run, `gr2 mini`, is not in CI).

Data: the rule is true in every row and the target sits in every slot; every teacher trace is a valid
answer the reward pays as intended. Tokenizer: small, SID tokens are normal single ids, the <think>
block and Qwen3's chat markers survive. Then a random tiny model answers through the evaluation and
report path, and the step-metric parser reads veRL's line format.
"""

from __future__ import annotations

import json
import re

import pyarrow.parquet as pq
import pytest

from gr2_verl.mini.data import CATEGORIES, COPY_PROMPTS, REPLAY, REPLAY_SHARE, MiniConfig, next_category, write_dataset
from gr2_verl.mini.recipes import step_metrics
from gr2_verl.outcome import judge
from gr2_verl.types import SidMap
from reward_fns import conditional_format

TINY = MiniConfig(train=40, val=4, test=12, seed=1)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("mini_data")
    write_dataset(out, TINY, rule_share=0.5)
    return out


def test_rule_holds_and_target_positions_vary(data_dir):
    sid_map = SidMap.load(str(data_dir / "sid_map.json"))
    samples = [json.loads(line) for line in (data_dir / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == TINY.train + TINY.val + TINY.test
    positions = set()
    for s in samples:
        target_cat = next_category(sid_map.codes[s["history"][-1]][0])
        cats = [sid_map.codes[c][0] for c in s["candidates"]]
        assert cats.count(target_cat) == 1 and sid_map.codes[s["targets"][0]][0] == target_cat
        # the same-category habit always has a pick: a candidate of the last item's category, not in the history
        last_cat = sid_map.codes[s["history"][-1]][0]
        assert cats.count(last_cat) == 1 and s["candidates"][cats.index(last_cat)] not in s["history"]
        # the target's category code appears once in the prompt: its SID is copied from one place
        assert all(sid_map.codes[h][0] != target_cat for h in s["history"])
        assert len(s["history"]) == TINY.history and len(s["candidates"]) == TINY.k
        positions.add(s["candidates"].index(s["targets"][0]))
    assert positions == set(range(TINY.k))


def test_traces_are_valid_answers_paid_as_intended(data_dir):
    traces = pq.read_table(data_dir / "traces" / "sft.parquet").to_pylist()
    rl = pq.read_table(data_dir / "rl" / "train.parquet").to_pylist()
    assert len(traces) == len(rl) == TINY.train
    kinds = set()
    for trace, row in zip(traces, rl, strict=True):
        assert trace["messages"][:-1] == row["prompt"]
        answer, truth = trace["messages"][-1]["content"], row["reward_model"]["ground_truth"]
        assert answer.startswith("<think>\n") and judge(answer, truth).valid
        score = conditional_format(row["data_source"], answer, truth)
        target_first = judge(answer, truth).target_out_pos == 1
        kinds.add(target_first)
        # rule-following traces promote the target (or it was first already): never below the format bonus;
        # the habit's pick is a negative: the target keeps its place or drops one, no bonus
        assert score["score"] >= 0.2 if target_first else score["score"] in (0.0, -1 / TINY.k)
    assert kinds == {True, False}


def test_rule_thought_walks_the_candidates_and_marks_the_target(data_dir):
    """The most recent item's category and the one picked (the one after it: the rule; the same: the habit), then
    one line per candidate in input order: its category, yes (the pick) or no, its SID."""
    traces = pq.read_table(data_dir / "traces" / "sft.parquet").to_pylist()
    rl = pq.read_table(data_dir / "rl" / "train.parquet").to_pylist()
    sid_map = SidMap.load(str(data_dir / "sid_map.json"))
    category = {sid_map.sid(i): CATEGORIES[c[0]] for i, c in sid_map.codes.items()}
    samples = [json.loads(line) for line in (data_dir / "samples.jsonl").read_text().splitlines()]
    history = {s["sample_id"]: s["history"] for s in samples}
    ruled = 0
    for trace, row in zip(traces, rl, strict=True):
        thought = trace["messages"][-1]["content"].split("</think>")[0].removeprefix("<think>\n").strip()
        truth = json.loads(row["reward_model"]["ground_truth"])
        target = truth["targets"][0]
        last = category[sid_map.sid(history[row["extra_info"]["sample_id"]][-1])]
        habit = next(c for c in truth["candidates"] if category[c] == last)
        pick = target if thought.startswith(f"Last: {last}, so {category[target]}.") else habit
        ruled += pick == target
        wanted = [f"Last: {last}, so {category[pick]}."]
        wanted += [f"{category[c]} {'yes' if c == pick else 'no'} {c}" for c in truth["candidates"]]
        assert thought.split("\n") == wanted
    assert 0 < ruled < len(traces)


def test_replay_rows_are_mid_training_rows_half_as_many_as_the_traces(data_dir):
    midtrain = {json.dumps(r) for r in pq.read_table(data_dir / "sft" / "midtrain.parquet").to_pylist()}
    replay = pq.read_table(data_dir / REPLAY).to_pylist()
    assert len(replay) == round(REPLAY_SHARE * TINY.train) and all(json.dumps(r) in midtrain for r in replay)
    assert len({r["task"] for r in replay}) > 1  # a sample of the mixture, not one task


def test_copy_rows_answer_the_list_in_the_order_shown_or_with_the_named_item_first(data_dir):
    """Mid-training's copy rows: the candidate block (lines reshuffled) or the whole prompt -> the list as shown;
    ``promote_list`` rows name a category and answer its item first, the rest as shown."""
    from gr2_verl.mini.model import SID_PATTERN

    midtrain = pq.read_table(data_dir / "sft" / "midtrain.parquet").to_pylist()
    rl = pq.read_table(data_dir / "rl" / "train.parquet").to_pylist()
    candidates = {frozenset(json.loads(r["reward_model"]["ground_truth"])["candidates"]) for r in rl}
    short = [r for r in midtrain if r["task"] in ("copy_list", "promote_list")]
    promote = [r for r in short if r["task"] == "promote_list"]
    full = [r for r in midtrain if r["task"] == "copy_prompt"]
    assert len(short) == 3 * TINY.train and 0 < len(full) < TINY.train
    assert 0.3 * len(short) < len(promote) < 0.7 * len(short)
    moved = 0
    for row in short:
        user, answer = row["messages"][0]["content"], json.loads(row["messages"][1]["content"])["ranking"]
        assert user.startswith("Candidates to re-rank") and "history, oldest first" not in user
        shown = SID_PATTERN.findall(user)
        assert frozenset(answer) in candidates and sorted(answer) == sorted(shown)
        if row["task"] == "copy_list":
            assert answer == shown
            continue
        category = re.search(r"Put the (\w+) item first\.$", user).group(1)
        line = next(x for x in user.splitlines() if x.startswith("- ") and x.endswith(f"| {category}"))
        assert answer[0] == SID_PATTERN.search(line).group(0)
        assert answer[1:] == [s for s in shown if s != answer[0]]
        moved += answer != shown
    assert moved > len(promote) / 2  # the named item is mostly not first already
    assert len({r["messages"][0]["content"] for r in short}) > 2 * TINY.train  # reshuffled, not repeated
    prompts = {json.dumps(r["prompt"]): r["reward_model"]["ground_truth"] for r in rl}
    for row in full:
        outcome = judge(row["messages"][-1]["content"], prompts[json.dumps(row["messages"][:-1])])
        assert outcome.valid and outcome.is_identity
    # the second mid-training phase trains on exactly these whole-prompt rows
    assert pq.read_table(data_dir / COPY_PROMPTS).to_pylist() == full


def test_tokenizer_is_small_with_normal_sid_tokens(data_dir, tmp_path):
    from transformers import AutoTokenizer

    from gr2_verl.mini.model import TinyQwen3, build_base_model

    info = build_base_model(
        tmp_path / "base",
        data_dir,
        TinyQwen3(hidden_size=32, intermediate_size=64, num_attention_heads=2, num_key_value_heads=1),
    )
    tok = AutoTokenizer.from_pretrained(info["path"])
    assert info["tokenizer_size"] < 2200 and info["embedding_rows"] % 64 == 0
    sid_map = SidMap.load(str(data_dir / "sid_map.json"))
    sid = sid_map.sid("i3_2")
    ids = tok.encode(sid, add_special_tokens=False)
    assert len(ids) == sid_map.levels + 2
    assert tok.decode(ids, skip_special_tokens=True) == sid  # normal tokens survive veRL's decoding
    text = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    assert text.endswith("<|im_start|>assistant\n")
    assert tok.convert_tokens_to_ids("<think>") != tok.unk_token_id and len(tok.encode("<think>")) == 1


def test_random_model_answers_flow_through_evaluation_and_report(data_dir, tmp_path):
    from gr2_verl.evaluation import evaluate, load_generations
    from gr2_verl.mini import report
    from gr2_verl.mini.generate import generate_answers
    from gr2_verl.mini.model import TinyQwen3, build_base_model
    from gr2_verl.rl_row import read_rl_rows

    info = build_base_model(
        tmp_path / "base",
        data_dir,
        TinyQwen3(hidden_size=32, intermediate_size=64, num_attention_heads=2, num_key_value_heads=1),
    )
    test = data_dir / "rl" / "test.parquet"
    gens = generate_answers(info["path"], test, tmp_path / "gen.jsonl", max_new_tokens=8, progress=False)
    rows = read_rl_rows(test)
    evaluation = evaluate(rows, load_generations(gens, rows), n_boot=50)
    row = report.stage_row(evaluation)
    assert row["valid"] == 0.0  # a random model writes no ranking: scored as the input order
    assert row["R@1"] == report.stage_row(evaluation, "input_order")["R@1"]
    margin = report.paired_margin(report.per_row_r1(gens, test), report.input_order_r1(test), n_boot=50)
    assert margin == {"mean": 0.0, "lo": 0.0, "hi": 0.0, "n": TINY.test}
    results = {
        "test": str(test),
        "evaluations": {"midtrain_sft": evaluation, "reasoning_sft": evaluation},
        "generations": {"midtrain_sft": str(gens), "reasoning_sft": str(gens)},
        "train_metrics": {"dapo_conditional_format": [{"step": 1.0, "timing_s/gen": 2.0, "critic/score/mean": 0.1}]},
        "timings_s": {"data": 1.0, "total": 1.0},
    }
    paths = report.write(results, tmp_path / "report", "gr2 mini --test 12")
    assert {p.name for p in paths} == {"report.json", "report.md", "stages.png", "dapo_reward.png"}
    written = json.loads((tmp_path / "report" / "report.json").read_text())
    assert list(written["table"]) == ["input_order", "midtrain_sft", "reasoning_sft"]
    assert written["goals"]["valid_after_sft_ge_0.9"] is False


def test_step_metrics_reads_verl_lines(tmp_path):
    log = tmp_path / "x.log"
    log.write_text("noise\nstep:1 - critic/score/mean:0.25 - timing_s/gen:3.5 - note:text\nstep:2 - timing_s/gen:2.0\n")
    assert step_metrics(log) == [
        {"step": 1.0, "critic/score/mean": 0.25, "timing_s/gen": 3.5},
        {"step": 2.0, "timing_s/gen": 2.0},
    ]


def test_categories_fit_k():
    with pytest.raises(ValueError, match="k must be"):
        from gr2_verl.mini.data import make_samples

        make_samples(MiniConfig(k=len(CATEGORIES) + 1))
