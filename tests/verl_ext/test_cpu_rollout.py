"""gr2_verl.verl_ext.cpu_rollout: registered with veRL only under VERL_PLATFORM=cpu, loudly when that breaks, and
a server whose batched answers and log-probs are those of the model. tests/recipes/test_dapo_cpu.py runs it in
veRL's main_ppo."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest
import torch

PROBE = """
import sys, verl
from verl.workers.rollout.replica import RolloutReplicaRegistry
from verl.workers.rollout.base import _ROLLOUT_REGISTRY
print("cpu" in RolloutReplicaRegistry._registry, ("cpu", "async") in _ROLLOUT_REGISTRY,
      "gr2_verl.verl_ext.cpu_rollout" in sys.modules)
"""


def _probe(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=300)


def test_registered_only_on_the_cpu_platform():
    without = {k: v for k, v in os.environ.items() if k != "VERL_PLATFORM"}
    assert _probe(without).stdout.split()[-3:] == ["False", "False", "False"]
    assert _probe({**without, "VERL_PLATFORM": "cpu"}).stdout.split()[-3:] == ["True", "True", "True"]


def test_a_broken_registration_is_logged_at_error(tmp_path):
    """veRL hides plugin exceptions at debug level; ours must still reach stderr. Simulated by a veRL whose
    private adapter registry moved (loaded through VERL_USE_EXTERNAL_MODULES, before plugins)."""
    (tmp_path / "moved_registry.py").write_text("import verl.workers.rollout.base as b\ndel b._ROLLOUT_REGISTRY\n")
    env = {
        **os.environ,
        "VERL_PLATFORM": "cpu",
        "VERL_USE_EXTERNAL_MODULES": "moved_registry",
        "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    stderr = _probe(env).stderr
    assert "ERROR" in stderr and "the CPU backends failed to register" in stderr and "_ROLLOUT_REGISTRY" in stderr


@pytest.fixture()
def server(tiny_qwen_dir):
    from verl.workers.config import HFModelConfig, RolloutConfig

    from gr2_verl.verl_ext.cpu_rollout import CPURolloutServer

    config = RolloutConfig(name="cpu", prompt_length=32, response_length=8, dtype="float32")
    return CPURolloutServer(config=config, model_config=HFModelConfig(path=tiny_qwen_dir))


def _serve(server, prompts: list[list[int]], sampling: dict) -> list:
    async def all_at_once():
        return await asyncio.gather(
            *(server.generate(prompt, dict(sampling), request_id=str(i)) for i, prompt in enumerate(prompts))
        )

    return asyncio.run(all_at_once())


def _teacher_forced(server, prompt: list[int], answer: list[int], temperature: float) -> torch.Tensor:
    """Log-probs of ``answer`` under one unpadded forward pass: what veRL's actor computes."""
    ids = torch.tensor([prompt + answer])
    with torch.no_grad():
        logits = server.model(ids).logits[0, len(prompt) - 1 : -1] / temperature
    return torch.log_softmax(logits, -1).gather(-1, torch.tensor(answer).unsqueeze(-1)).squeeze(-1)


def test_concurrent_requests_share_one_generate_and_keep_the_model_log_probs(server):
    calls = []
    generate = server.model.generate
    server.model.generate = lambda **kwargs: calls.append(kwargs["input_ids"].shape) or generate(**kwargs)
    prompts = [[11, 12, 13], [21, 22, 23, 24, 25, 26], [31], [41, 42]]  # unequal lengths: left padding
    torch.manual_seed(0)
    outputs = _serve(server, prompts, {"temperature": 0.7, "top_p": 1.0, "top_k": -1, "logprobs": True})
    assert calls == [(4, 6)]  # one batch, padded to the longest prompt
    for prompt, out in zip(prompts, outputs, strict=True):
        assert 1 <= len(out.token_ids) <= 8 and len(out.log_probs) == len(out.token_ids)
        expected = _teacher_forced(server, prompt, out.token_ids, temperature=0.7)
        assert torch.allclose(torch.tensor(out.log_probs), expected, atol=1e-5)


def test_greedy_answers_do_not_depend_on_the_batch(server):
    greedy = {"temperature": 0, "top_p": 1.0, "top_k": -1, "logprobs": False}
    alone = _serve(server, [[5, 6, 7]], greedy)[0]
    batched = _serve(server, [[5, 6, 7], [9] * 10, [8, 8]], greedy)[0]
    assert alone.token_ids == batched.token_ids and alone.log_probs is None


def test_weight_sync_changes_the_answers_and_rejects_unknown_names(server):
    prompt, greedy = [[5, 6, 7]], {"temperature": 0, "top_p": 1.0, "top_k": -1, "logprobs": True}
    before = _serve(server, prompt, greedy)[0]
    shifted = {name: p + 0.5 * torch.randn_like(p) for name, p in server.model.state_dict().items()}
    asyncio.run(server.update_weights(shifted, global_steps=3))
    after = _serve(server, prompt, greedy)[0]
    assert after.extra_fields["global_steps"] == 3 and after.log_probs != before.log_probs
    with pytest.raises(RuntimeError, match="names the model lacks"):
        asyncio.run(server.update_weights({"not.a.weight": torch.zeros(1)}, global_steps=4))
