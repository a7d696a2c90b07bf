"""The vLLM offline backend end to end (GPU and ``pip install vllm`` only; skipped by default)."""

from __future__ import annotations

import pytest

from gr2_verl.llm.backend import Sampling
from gr2_verl.traces.sampler import TraceConfig, run_traces


@pytest.mark.gpu
def test_vllm_tiny_qwen_bookkeeping(tiny_qwen_dir, rl_parquet, tmp_path):
    pytest.importorskip("vllm")
    from gr2_verl.llm.local import VLLMBackend

    rl = rl_parquet([3, 1, 0])
    backend = VLLMBackend(tiny_qwen_dir, max_model_len=4096)
    try:
        config = TraceConfig(attempts=2, sampling=Sampling(temperature=1.0, top_p=1.0, max_tokens=12))
        s = run_traces(rl, tmp_path / "out", backend, config, model="tiny", progress=False).summary
    finally:
        backend.close()
    assert s["samples_attempted"] == 2 and s["samples_accepted"] == 0 and s["attempts_total"] == 4
    assert s["tokens"]["completion_total"] > 0 and s["tokens"]["prompt_total"] > 0
