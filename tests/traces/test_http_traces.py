"""End to end through the HTTP backend against a scripted OpenAI-compatible server on 127.0.0.1.

The scripted run below is the figure source of the traces issue: every behaviour a real teacher server
shows (right, wrong, malformed, slow, failing, rate limited, rejecting the request) on known samples.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pandas as pd
import pytest

from gr2_verl.llm.backend import Sampling
from gr2_verl.llm.openai_http import OpenAIBackend
from gr2_verl.rl_row import read_rl_rows
from gr2_verl.traces.acceptance import AcceptRule
from gr2_verl.traces.sampler import TraceConfig, run_traces

# target's pre-rank position per sample (0 = pre-ranker miss), and what the server does per attempt/try
POSITIONS = [3, 2, 5, 1, 4, 6, 4, 2, 0, 7]
SCRIPT = {
    "s0": [["right"]],                                 # accepted at once
    "s1": [["wrong"], ["right"]],                      # wrong (target last), then right
    "s2": [["no_json"], ["bad_json"], ["right"]],      # malformed twice, right on the last attempt
    "s3": [["fail", "right"]],                         # HTTP 500, retried
    "s4": [["slow", "right"]],                         # times out, retried
    "s5": [["wrong"], ["duplicate"], ["wrong"]],       # never right: exhausted
    "s6": [["promoted"], ["promoted"], ["promoted"]],  # moves the target up, never first
    "s7": [["fail", "fail", "fail"], ["429", "right"]],  # retries exhausted (error attempt), then rate limited
    # s8: target outside the candidates: skipped, never requested
    "s9": [["bad_request"], ["right"]],                # HTTP 400: not retried, error attempt
}


def _run(rl, out, server, rule=None, attempts=3, concurrency=4, **backend_options):
    backend = OpenAIBackend(server.base_url, "teacher", concurrency=concurrency, timeout_s=0.5, max_retries=2,
                            backoff_s=0.01, **backend_options)
    config = TraceConfig(rule=rule or AcceptRule(), attempts=attempts, batch_size=16,
                         sampling=Sampling(temperature=0.7, max_tokens=512))
    try:
        return run_traces(rl, out, backend, config, model="teacher", progress=False)
    finally:
        backend.close()


def _attempts(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_scripted_run_figures(rl_parquet, scripted_server, tmp_path):
    rl = rl_parquet(POSITIONS)
    server = scripted_server(rl, SCRIPT, delay_s=0.05)
    result = _run(rl, tmp_path / "out", server)
    s = result.summary

    assert s["samples_attempted"] == 9 and s["skipped_target_missing"] == 1
    assert s["samples_accepted"] == 7 and s["samples_exhausted"] == 2 and s["samples_unfinished"] == 0
    assert s["acceptance_rate"] == pytest.approx(7 / 9)
    assert s["attempts_total"] == 18 and s["attempts_per_accepted"] == pytest.approx(18 / 7)
    assert s["accepted_at_attempt"] == {"1": 3, "2": 3, "3": 1}
    assert s["status_counts"] == {"bad_json": 1, "duplicate": 1, "error": 2, "no_json": 1, "ok": 13}
    assert s["failed_requests"] == 2 and s["retries_total"] == 5
    assert s["tokens"]["prompt_total"] > 0 and s["tokens"]["completion_total"] > 0
    assert s["trace_completion_tokens"]["count"] == 7
    assert not any(r["id"].startswith("s8/") for r in server.requests)

    records = _attempts(result.paths["attempts.jsonl"])
    by_key = {(r["sample_key"], r["attempt"]): r for r in records}
    assert len(by_key) == len(records) == 18
    assert by_key[("s3", 1)]["retries"] == 1 and by_key[("s4", 1)]["retries"] == 1  # 500 and timeout retried
    assert by_key[("s7", 1)]["error"].startswith("HTTP 500") and by_key[("s7", 1)]["retries"] == 2
    assert by_key[("s9", 1)]["error"].startswith("HTTP 400") and by_key[("s9", 1)]["retries"] == 0
    assert by_key[("s6", 1)]["status"] == "ok" and by_key[("s6", 1)]["target_out_pos"] == 3

    sft = pd.read_parquet(result.paths["sft.parquet"])
    assert list(sft["sample_id"]) == ["s0", "s1", "s2", "s3", "s4", "s7", "s9"]  # input order
    assert list(sft["attempt"]) == [1, 2, 3, 1, 1, 2, 2]
    rows = {r.key: r for r in read_rl_rows(rl)}
    for _, row in sft.iterrows():
        messages = list(row["messages"])
        assert [dict(m) for m in messages[:2]] == rows[row["sample_id"]].prompt  # the student prompt, unchanged
        content = messages[2]["content"]
        assert messages[2]["role"] == "assistant" and content.startswith("Step 1:") and "```" not in content
        answer = json.loads(content[content.index("\n\n{") + 2:])
        assert answer["ranking"][0] == rows[row["sample_id"]].truth.targets[0]
    md = open(result.paths["summary.md"], encoding="utf-8").read()
    assert "| accepted | 7 (77.8%) |" in md
    assert json.load(open(result.paths["summary.json"]))["attempts_total"] == 18


def test_promoted_rule_keeps_promotions(rl_parquet, scripted_server, tmp_path):
    rl = rl_parquet(POSITIONS)
    server = scripted_server(rl, SCRIPT)
    s = _run(rl, tmp_path / "out", server, rule=AcceptRule(kind="promoted")).summary
    assert s["samples_accepted"] == 8  # s6 (target 4 -> 3) now counts; s5 (target demoted) still does not
    assert s["accepted_at_attempt"] == {"1": 4, "2": 3, "3": 1}


def test_concurrency_limit_holds(rl_parquet, scripted_server, tmp_path):
    rl = rl_parquet([2] * 9)
    server = scripted_server(rl, {}, delay_s=0.3)  # long enough for all three workers to overlap on a busy machine
    assert _run(rl, tmp_path / "out", server, concurrency=3).summary["samples_accepted"] == 9
    assert server.max_inflight == 3


def test_api_key_comes_from_the_environment(rl_parquet, scripted_server, tmp_path, monkeypatch):
    rl = rl_parquet([2, 3])
    server = scripted_server(rl, {})
    monkeypatch.setenv("GR2_TEST_TEACHER_KEY", "sk-test-secret")
    out = tmp_path / "out"
    _run(rl, out, server, api_key_env="GR2_TEST_TEACHER_KEY", extra_body={"chat_template_kwargs": {"x": 1}})
    assert {r["auth"] for r in server.requests} == {"Bearer sk-test-secret"}
    assert all(r["body"]["chat_template_kwargs"] == {"x": 1} and r["body"]["seed"] >= 0 for r in server.requests)
    assert not any("sk-test-secret" in p.read_text() for p in out.iterdir() if p.suffix in (".jsonl", ".json", ".md"))

    monkeypatch.delenv("GR2_TEST_TEACHER_KEY")
    server = scripted_server(rl, {})
    _run(rl, tmp_path / "out2", server, api_key_env="GR2_TEST_TEACHER_KEY")
    assert {r["auth"] for r in server.requests} == {None}  # a local server needs no key


def test_unreachable_server_records_errors(rl_parquet, tmp_path):
    rl = rl_parquet([2])
    with socket.socket() as s:  # a local port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    backend = OpenAIBackend(f"http://127.0.0.1:{port}/v1", "teacher", timeout_s=0.5, max_retries=1, backoff_s=0.01)
    result = run_traces(rl, tmp_path / "out", backend, TraceConfig(attempts=2), progress=False)
    backend.close()
    s = result.summary
    assert s["failed_requests"] == 2 and s["samples_exhausted"] == 1 and s["retries_total"] == 2
    assert _attempts(result.paths["attempts.jsonl"])[0]["error"].startswith("request error: ConnectError")


def test_cli_fails_naming_a_dead_server(rl_parquet, tmp_path, capsys):
    from gr2_verl.cli.main import main

    rl = rl_parquet([2, 3])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}/v1"
    code = main(["traces", "--rl", str(rl), "--out", str(tmp_path / "out"), "--backend", "http", "--model", "t",
                 "--base-url", base, "--attempts", "2", "--max-retries", "0", "--timeout", "0.5"])  # fmt: skip
    assert code == 1  # "accepted 0/2" with exit 0 used to hide a server that was never up
    error = capsys.readouterr().err.splitlines()[-1]  # after the progress bar
    assert error.startswith("gr2 traces: error: accepted no trace; all 4 requests to the teacher at " + base)
    assert "ConnectError" in error


RESUME_POSITIONS = [3, 2, 5, 4, 6, 2, 3, 8, 2, 4, 5, 3]
RESUME_SCRIPT = {
    "s1": [["wrong"], ["right"]],
    "s2": [["no_json"], ["wrong"], ["right"]],
    "s4": [["wrong"], ["wrong"], ["wrong"]],
    "s6": [["bad_json"], ["right"]],
    "s9": [["promoted"], ["duplicate"], ["wrong"]],
    "s10": [["wrong"], ["right"]],
}


def _cli(rl, out, server):
    return [sys.executable, "-m", "gr2_verl.cli.main", "traces", "--rl", str(rl), "--out", str(out),
            "--backend", "http", "--base-url", server.base_url, "--model", "teacher", "--attempts", "3",
            "--concurrency", "2", "--batch-size", "4", "--backoff", "0.01", "--timeout", "5"]


def test_resume_after_kill_loses_and_duplicates_nothing(rl_parquet, scripted_server, tmp_path):
    rl = rl_parquet(RESUME_POSITIONS)
    out = tmp_path / "killed"
    server = scripted_server(rl, RESUME_SCRIPT, delay_s=0.15)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(_cli(rl, out, server), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    log = out / "attempts.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not log.exists() or log.read_text().count("\n") < 3):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = log.read_text().count("\n")
    assert 3 <= done_before < 21, "the kill must land mid-run"
    with open(log, "a", encoding="utf-8") as f:
        f.write('{"sample_key": "s11", "attempt": 1, "acc')  # a line cut short by the kill

    resumed = subprocess.run(_cli(rl, out, server), env=env, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert "accepted 10/12 samples" in resumed.stdout and "wrote" in resumed.stdout

    fresh = _run(rl, tmp_path / "fresh", scripted_server(rl, RESUME_SCRIPT), attempts=3)
    killed_records = _attempts(log)
    fresh_records = _attempts(fresh.paths["attempts.jsonl"])

    def outcome(records):
        return sorted((r["sample_key"], r["attempt"], r["accepted"], r["status"]) for r in records)

    assert len({(r["sample_key"], r["attempt"]) for r in killed_records}) == len(killed_records) == 21
    assert outcome(killed_records) == outcome(fresh_records)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["log_repairs"]["truncated_tail_bytes"] > 0
    assert summary["samples_accepted"] == fresh.summary["samples_accepted"] == 10
    killed_sft = pd.read_parquet(out / "sft.parquet")
    fresh_sft = pd.read_parquet(fresh.paths["sft.parquet"])
    assert killed_sft[["sample_id", "attempt"]].equals(fresh_sft[["sample_id", "attempt"]])
    assert [list(m) for m in killed_sft["messages"]] == [list(m) for m in fresh_sft["messages"]]


def test_ctrl_c_exits_at_once_and_says_how_to_resume(rl_parquet, scripted_server, tmp_path):
    rl = rl_parquet([2, 3, 4])
    server = scripted_server(rl, {}, default="slow", slow_s=30.0)  # answers only after 30 s
    cmd = [*_cli(rl, tmp_path / "out", server)[:-2], "--timeout", "60"]
    # a test run started in the background (CI, `cmd &`) inherits SIGINT as ignored: give the child
    # the default disposition, as an interactive shell would
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not server.requests:
        time.sleep(0.02)
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)
    stdout, _ = proc.communicate(timeout=20)
    assert time.monotonic() - start < 10  # not held by requests in flight
    assert proc.returncode == 130 and "rerun the command to resume" in stdout


def test_resume_refuses_changed_settings(rl_parquet, scripted_server, tmp_path):
    rl = rl_parquet([2, 3])
    server = scripted_server(rl, {})
    _run(rl, tmp_path / "out", server)
    with pytest.raises(ValueError, match="different accept"):
        _run(rl, tmp_path / "out", server, rule=AcceptRule(kind="promoted"))
    # more attempts on the same folder is a valid resume: nothing is open, nothing is asked again
    before = len(server.requests)
    assert _run(rl, tmp_path / "out", server, attempts=5).summary["attempts_total"] == 2
    assert len(server.requests) == before


def test_sft_parquet_loads_in_verl_multiturn_dataset(rl_parquet, scripted_server, tmp_path, qwen_tokenizer):
    """veRL trains on exactly the assistant answer; Qwen3's template needs ignore_input_ids_mismatch."""
    from omegaconf import OmegaConf
    from verl.utils.dataset.multiturn_sft_dataset import MultiTurnSFTDataset

    rl = rl_parquet([3, 2, 5])
    out = _run(rl, tmp_path / "out", scripted_server(rl, {}))
    path = out.paths["sft.parquet"]
    config = {"max_length": 4096, "truncation": "error", "ignore_input_ids_mismatch": True}
    dataset = MultiTurnSFTDataset(path, qwen_tokenizer, OmegaConf.create(config))
    sft = pd.read_parquet(path)
    assert len(dataset) == len(sft) == 3
    for i in range(len(dataset)):
        item = dataset[i]
        messages = list(sft["messages"][i])
        trained = qwen_tokenizer.decode(item["input_ids"][item["loss_mask"].bool()])
        assert trained == messages[2]["content"] + "<|im_end|>\n"  # the whole answer, reasoning included
        prompt = qwen_tokenizer.decode(item["input_ids"][item["attention_mask"].bool()])
        assert messages[1]["content"] in prompt

    # the hazard behind the flag: Qwen3 renders an empty think block in the whole conversation only
    strict = MultiTurnSFTDataset(path, qwen_tokenizer, OmegaConf.create({**config, "ignore_input_ids_mismatch": False}))
    with pytest.raises(AssertionError, match="apply_chat_template"):
        strict[0]


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda rows: [r.pop("reward_model") for r in rows], "missing columns \\['reward_model'\\]"),
        (lambda rows: rows[1]["reward_model"].update(ground_truth="{not json"),
         "row 1: field 'reward_model.ground_truth'"),
        (lambda rows: rows[1].update(prompt=[{"role": "user", "content": None}]), "row 1: field 'prompt'"),
        (lambda rows: rows[1].update(prompt=rows[1]["prompt"][1:]), "row 1: field 'prompt'"),
        (lambda rows: rows[1]["extra_info"].update(sample_id="s0"), "row 1: field 'extra_info.sample_id' repeats 's0'"),
    ],
    ids=["no reward_model", "broken ground truth", "message without content", "no system message", "repeated id"],
)
def test_bad_rl_rows_name_file_row_and_field(rl_parquet, mutate, message):
    path = rl_parquet([2, 3], name="bad.parquet", mutate=mutate)
    with pytest.raises(ValueError, match=f"bad.parquet: {message}"):
        read_rl_rows(path)
