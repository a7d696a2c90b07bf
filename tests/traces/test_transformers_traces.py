"""End to end through the transformers backend: tiny random Qwen3, real Qwen3 tokenizer, real parquet.

A random model never writes a valid ranking, so everything is rejected: the test checks the bookkeeping
(every sample gets exactly N attempts, tokens counted by the real tokenizer, an empty but loadable SFT
parquet) and that raising N on the same folder resumes with the next attempt numbers.
"""

from __future__ import annotations

import json

import pandas as pd

from gr2_verl.llm.backend import Sampling
from gr2_verl.llm.local import TransformersBackend
from gr2_verl.rl_row import read_rl_rows
from gr2_verl.traces.sampler import TraceConfig, run_traces
from gr2_verl.traces.store import sft_schema


def test_tiny_qwen_everything_rejected(tiny_qwen_dir, qwen_tokenizer, rl_parquet, tmp_path):
    rl = rl_parquet([3, 1, 0])  # the third is a pre-ranker miss: skipped
    backend = TransformersBackend(tiny_qwen_dir)
    sampling = Sampling(temperature=1.0, top_p=1.0, max_tokens=12)
    out = tmp_path / "out"
    try:
        result = run_traces(rl, out, backend, TraceConfig(attempts=2, sampling=sampling, batch_size=8),
                            model="tiny", progress=False)
        s = result.summary
        assert s["samples_attempted"] == 2 and s["skipped_target_missing"] == 1
        assert s["samples_accepted"] == 0 and s["samples_exhausted"] == 2 and s["acceptance_rate"] == 0.0
        assert s["attempts_total"] == 4 and s["attempts_per_accepted"] is None
        assert s["failed_requests"] == 0 and s["finish_reasons"] == {"length": 4}

        records = [json.loads(line) for line in open(result.paths["attempts.jsonl"], encoding="utf-8")]
        assert sorted((r["sample_key"], r["attempt"]) for r in records) == [("s0", 1), ("s0", 2), ("s1", 1), ("s1", 2)]
        rows = {r.key: r for r in read_rl_rows(rl)}
        for r in records:
            assert not r["accepted"] and r["status"] != "ok" and r["reward"] == -1.0  # invalid_score
            assert r["completion_tokens"] == 12 and r["backend"] == "transformers"
            # the prompt the model saw: the teacher messages under Qwen3's chat template, counted by the real tokenizer
            assert r["prompt_tokens"] > len(qwen_tokenizer.apply_chat_template(
                rows[r["sample_key"]].prompt, add_generation_prompt=True, tokenize=True, return_dict=True
            )["input_ids"])
        assert len({r["seed"] for r in records}) == 4
        assert s["tokens"]["completion_total"] == 48

        sft = pd.read_parquet(result.paths["sft.parquet"])
        assert len(sft) == 0 and list(sft.columns) == sft_schema().names

        # resume with a larger budget: attempts 3 only, nothing repeated
        again = run_traces(rl, out, backend, TraceConfig(attempts=3, sampling=sampling), progress=False)
    finally:
        backend.close()
    assert again.summary["attempts_total"] == 6 and again.summary["samples_exhausted"] == 2
    records = [json.loads(line) for line in open(again.paths["attempts.jsonl"], encoding="utf-8")]
    assert sorted(r["attempt"] for r in records if r["sample_key"] == "s0") == [1, 2, 3]
