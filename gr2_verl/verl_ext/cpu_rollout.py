"""A CPU rollout backend for veRL 0.9.1: ``actor_rollout_ref.rollout.name=cpu`` serves rollouts with HF ``generate``.

For laptops, CI and debugging a recipe before GPU time: ``main_ppo`` needs a rollout server and stock
veRL registers only vLLM, SGLang and TensorRT-LLM, all GPU engines. This module plugs a CPU one into
the same three extension points (``recipes/configs/rl_model/cpu_tiny.yaml`` selects it):

1. ``RolloutReplicaRegistry`` (``verl/workers/rollout/replica.py``, public): ``CPURolloutReplica``
   launches one ``CPURolloutServer`` Ray actor per replica. veRL's ``LLMServerManager`` builds
   replicas by name and routes every ``generate`` call to ``server_handle``. If veRL renames the
   registry or the ``launch_servers`` hook, ``register()`` fails at import (logged at ERROR by
   ``gr2_verl.verl_ext``) or the trainer stops at "Unknown rollout mode: cpu".
2. ``_ROLLOUT_REGISTRY`` (``verl/workers/rollout/base.py``, a private dict read by
   ``get_rollout_class``): ``CPUServerAdapter`` lives in each training worker and receives the
   weights. If veRL moves the dict, ``register()`` raises; if it stops reading it,
   ``register()``'s read-back through ``get_rollout_class`` raises.
3. Weight sync: the V1 sync trainer forces ``checkpoint_engine.backend=naive``, so after each step
   ``ActorRolloutRefWorker.update_weights`` (``verl/workers/engine_workers.py``) hands
   ``CPUServerAdapter.update_weights`` a generator of full tensors. Producing each tensor is an FSDP
   all-gather, so every rank drains the generator; the replica's first rank ships the tensors to its
   server. A veRL that drops the naive path, or calls the adapter on some ranks only, deadlocks or
   leaves the server on stale weights, which ``training/rollout_probs_diff_max`` shows at once
   (tests/recipes/test_dapo_cpu.py asserts it).

Batching: the agent loop sends one ``generate`` per answer, all at once. The server gathers the
requests that arrive within ``BATCH_WINDOW_S`` and runs one left-padded ``generate`` per group of
equal sampling settings (at most ``rollout.max_num_seqs`` rows). Measured on the shared 2-core machine
(load 15-24, so absolute seconds are inflated): 32 answers of up to 64 tokens from a 1.6k-vocabulary
tiny Qwen3 took 46 s batched and 131 s with ``max_num_seqs=1`` (one by one).

Log-probs are those of the sampling distribution, ``log_softmax(logits / temperature)``, what the actor
computes for ``old_log_probs``, so the two agree to float precision when the weights are in sync.
Only the V1 sync trainer is supported: partial rollouts (abort / resume) raise NotImplementedError.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterable, Iterable
from dataclasses import dataclass, field
from typing import Any

import ray
import torch
from omegaconf import DictConfig
from torch.distributed.device_mesh import DeviceMesh
from verl.utils.config import omega_conf_to_dataclass
from verl.workers.config import HFModelConfig, RolloutConfig
from verl.workers.rollout.base import BaseRollout
from verl.workers.rollout.replica import RolloutReplica, TokenOutput

ROLLOUT_NAME = "cpu"  # the value of actor_rollout_ref.rollout.name that selects this backend
BATCH_WINDOW_S = 0.05  # wait this long for more requests before generating: the agent loop sends a step's at once


def _server_name(replica_rank: int, name_suffix: str = "") -> str:
    """The Ray actor name of a replica's server: the adapter in each training worker looks it up by it."""
    return f"gr2_cpu_rollout_server_{replica_rank}{name_suffix}"


@dataclass
class _Request:
    """One queued ``generate`` call and the future its caller awaits."""

    prompt_ids: list[int]
    max_tokens: int
    sampling: tuple[float, float, int]  # (temperature, top_p, top_k): requests batch together only when equal
    done: asyncio.Future = field(repr=False)


class CPURolloutServer:
    """One HF causal LM on CPU behind veRL's token-in-token-out server interface (a Ray actor).

    Extension point: the calls veRL makes on ``RolloutReplica.server_handle`` (``LLMServerClient.generate``)
    and ``RolloutReplica.servers`` (lifecycle). veRL calls ``generate`` concurrently (one call per answer);
    calls are queued and served in batches. The lifecycle calls veRL copies from vLLM (``sleep``,
    ``wake_up``, kv-cache calls) are no-ops: a CPU model has no device memory to free between steps. If
    veRL adds a lifecycle call, the trainer stops with an AttributeError naming it on this actor.
    """

    def __init__(self, config: RolloutConfig | DictConfig, model_config: HFModelConfig | DictConfig) -> None:
        from transformers import AutoModelForCausalLM

        self.config: RolloutConfig = omega_conf_to_dataclass(config)
        self.model_config: HFModelConfig = omega_conf_to_dataclass(model_config, dataclass_type=HFModelConfig)
        attn = (self.model_config.override_config or {}).get("attn_implementation", "sdpa")
        self.model = AutoModelForCausalLM.from_pretrained(
            self.model_config.local_path, dtype=torch.float32, attn_implementation=attn
        ).eval()
        self.stop_ids = self._stop_token_ids()
        tokenizer = self.model_config.tokenizer
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.stop_ids[0]
        self.global_steps: int | None = None
        self._queue: list[_Request] = []
        self._wakeup = asyncio.Event()
        self._model_lock = asyncio.Lock()  # a weight update never lands in the middle of a batch
        self._batcher: asyncio.Task | None = None

    def _stop_token_ids(self) -> list[int]:
        """End-of-turn ids: the tokenizer's EOS (``<|im_end|>`` for Qwen3) plus the model's and generation config's."""
        ids: list[int] = []
        sources = [self.model_config.tokenizer.eos_token_id, self.model_config.hf_config.eos_token_id]
        if self.model_config.generation_config is not None:
            sources.append(self.model_config.generation_config.eos_token_id)
        for source in sources:
            for token in source if isinstance(source, list) else [source]:
                if token is not None and token not in ids:
                    ids.append(token)
        if not ids:
            raise ValueError(f"{self.model_config.local_path}: neither the tokenizer nor the model names an EOS token")
        return ids

    async def generate(
        self, prompt_ids: list[int], sampling_params: dict[str, Any], request_id: str, **kwargs: Any
    ) -> TokenOutput:
        """Answer one prompt (token ids in, token ids and per-token log-probs out), batched with its neighbours."""
        if any(kwargs.get(key) is not None for key in ("image_data", "video_data", "audio_data")):
            raise NotImplementedError("the CPU rollout serves text-only models")
        prompt_ids = [int(t) for t in prompt_ids]
        budget = self.config.prompt_length + self.config.response_length - len(prompt_ids)
        max_tokens = sampling_params.get("max_tokens", min(self.config.response_length, budget))
        if float(sampling_params.get("repetition_penalty", 1.0)) != 1.0:
            raise NotImplementedError("the CPU rollout samples without a repetition penalty (log-probs would differ)")
        temperature = float(sampling_params.get("temperature", 1.0))
        sampling = (temperature, float(sampling_params.get("top_p", 1.0)), int(sampling_params.get("top_k", -1)))
        request = _Request(prompt_ids, max(1, int(max_tokens)), sampling, asyncio.get_running_loop().create_future())
        self._queue.append(request)
        self._wakeup.set()
        if self._batcher is None or self._batcher.done():
            self._batcher = asyncio.create_task(self._serve())
        token_ids, log_probs = await request.done
        return TokenOutput(
            token_ids=token_ids,
            log_probs=log_probs if sampling_params.get("logprobs") else None,
            stop_reason="completed",
            extra_fields={"global_steps": self.global_steps},
        )

    async def _serve(self) -> None:
        """Drain the queue: wait out the batching window, then generate one batch per sampling setting."""
        while self._queue:
            self._wakeup.clear()
            await asyncio.sleep(BATCH_WINDOW_S)
            if self._wakeup.is_set() and len(self._queue) < self.config.max_num_seqs:
                continue  # more requests are still arriving
            batch, self._queue = self._queue[: self.config.max_num_seqs], self._queue[self.config.max_num_seqs :]
            groups: dict[tuple[float, float, int], list[_Request]] = {}
            for request in batch:
                groups.setdefault(request.sampling, []).append(request)
            for sampling, requests in groups.items():
                try:
                    async with self._model_lock:
                        results = await asyncio.to_thread(self._generate_batch, requests, sampling)
                except Exception as error:  # a failed batch fails its callers, not the server
                    for request in requests:
                        request.done.set_exception(error)
                    continue
                for request, result in zip(requests, results, strict=True):
                    request.done.set_result(result)

    @torch.no_grad()
    def _generate_batch(
        self, requests: list[_Request], sampling: tuple[float, float, int]
    ) -> list[tuple[list[int], list[float]]]:
        """One left-padded HF ``generate``; each answer is cut after its first stop token or its own budget."""
        from transformers import GenerationConfig

        temperature, top_p, top_k = sampling
        width = max(len(r.prompt_ids) for r in requests)
        input_ids = torch.full((len(requests), width), self.pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(requests), width), dtype=torch.long)
        for row, request in enumerate(requests):
            input_ids[row, width - len(request.prompt_ids) :] = torch.tensor(request.prompt_ids)
            attention_mask[row, width - len(request.prompt_ids) :] = 1
        greedy = temperature <= 0
        generation_config = GenerationConfig(
            max_new_tokens=max(r.max_tokens for r in requests),
            do_sample=not greedy,
            temperature=1.0 if greedy else temperature,
            top_p=1.0 if greedy else top_p,
            top_k=max(top_k, 0),  # veRL's -1 and HF's 0 both mean "no top-k"
            eos_token_id=self.stop_ids,
            pad_token_id=self.pad_id,
            return_dict_in_generate=True,
            output_logits=True,
        )
        out = self.model.generate(
            input_ids=input_ids, attention_mask=attention_mask, generation_config=generation_config
        )
        new_tokens = out.sequences[:, width:]
        logits = torch.stack(out.logits, dim=1).float()  # (batch, new tokens, vocab), before any sampling warper
        if not greedy:
            logits = logits / temperature
        log_probs = torch.log_softmax(logits, dim=-1).gather(-1, new_tokens.unsqueeze(-1)).squeeze(-1)
        results = []
        for row, request in enumerate(requests):
            tokens = new_tokens[row, : request.max_tokens].tolist()
            stops = [i for i, token in enumerate(tokens) if token in self.stop_ids]
            length = stops[0] + 1 if stops else len(tokens)
            results.append((tokens[:length], log_probs[row, :length].tolist()))
        return results

    async def update_weights(self, named_tensors: dict[str, torch.Tensor], global_steps: int | None) -> None:
        """Load the actor's full weights (HF names) in place; a name the model lacks is an error, not a skip."""
        async with self._model_lock:
            missing, unexpected = self.model.load_state_dict(named_tensors, strict=False)
            tied = set(getattr(self.model, "_tied_weights_keys", None) or [])
            if unexpected or set(missing) - tied:
                raise RuntimeError(f"weight sync: names the model lacks {unexpected}, weights not sent {missing}")
            self.global_steps = global_steps

    async def set_global_steps(self, global_steps: int) -> None:
        """The weights' version, echoed in every answer's ``extra_fields``."""
        self.global_steps = global_steps

    async def wake_up(self, tags: list[str] | None = None) -> None:
        """Nothing to reload: the weights stay in host memory."""

    async def sleep(self) -> None:
        """Nothing to free between steps on CPU."""

    async def clear_kv_cache(self) -> None:
        """HF ``generate`` keeps no cache across calls."""

    async def release_kv_cache(self) -> None:
        """HF ``generate`` keeps no cache across calls."""

    async def resume_kv_cache(self) -> None:
        """HF ``generate`` keeps no cache across calls."""

    async def start_profile(self, **kwargs: Any) -> None:
        """No rollout profiler on CPU."""

    async def stop_profile(self) -> None:
        """No rollout profiler on CPU."""

    async def abort_all_requests(self, reject_request: bool = False) -> dict[str, Any]:
        """Partial rollouts belong to the async trainers, which this backend does not support."""
        raise NotImplementedError("the CPU rollout supports only trainer.v1.trainer_mode=sync (no abort/resume)")

    async def resume_generation(self) -> None:
        """See ``abort_all_requests``."""
        raise NotImplementedError("the CPU rollout supports only trainer.v1.trainer_mode=sync (no abort/resume)")


class CPURolloutReplica(RolloutReplica):
    """veRL's replica for the CPU rollout: one ``CPURolloutServer`` actor (tensor parallel size 1).

    Extension point: ``RolloutReplicaRegistry``; ``LLMServerManager`` calls ``init_hybrid`` (the base
    class), which calls ``launch_servers``, then reads ``_server_handle`` and ``_server_address``. If veRL
    renames those, the trainer fails at start-up, before any step.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.world_size != 1:
            raise ValueError(
                f"the CPU rollout runs one process per replica; got tensor x data x pipeline size {self.world_size}"
            )

    def rollout_worker_use_gpu(self) -> bool:
        return False

    async def launch_servers(self) -> None:
        """Start the server actor. It claims no CPU from Ray: it is busy only while the trainer waits."""
        name = _server_name(self.replica_rank, self.name_suffix)
        server = (
            ray.remote(CPURolloutServer)
            .options(name=name, num_cpus=0, max_concurrency=self.max_concurrency)
            .remote(config=self.config, model_config=self.model_config)
        )
        await server.set_global_steps.remote(None)  # returns once the model has loaded
        self.servers = [server]
        self._server_handle = server
        self._server_address = name  # veRL's router keys servers by address; there is no HTTP endpoint


class CPUServerAdapter(BaseRollout):
    """The rollout's end inside each training worker: forwards the actor's weights to this replica's server.

    Extension point: ``_ROLLOUT_REGISTRY``; ``ActorRolloutRefWorker.init_model`` builds it with
    ``(config, model_config, device_mesh)`` and its naive ``update_weights`` calls ``resume`` and
    ``update_weights``. If veRL passes weights another way (a non-naive checkpoint engine), this raises.
    """

    def __init__(
        self,
        config: RolloutConfig,
        model_config: HFModelConfig,
        device_mesh: DeviceMesh | None,
        replica_rank: int = -1,
        name_suffix: str = "",
    ) -> None:
        super().__init__(config, model_config, device_mesh)
        rank = int(os.environ["RANK"])
        self.replica_rank = rank if replica_rank == -1 else replica_rank  # one rank per replica (see the replica)
        self.server_name = _server_name(self.replica_rank, name_suffix)

    async def resume(self, tags: list[str]) -> None:
        """Nothing to reload on CPU."""

    async def release(self) -> None:
        """Nothing to free on CPU."""

    async def update_weights(
        self,
        weights: Iterable[tuple[str, torch.Tensor]] | AsyncIterable[tuple[str, torch.Tensor]],
        wire_format: str = "named_tensors",
        global_steps: int | None = None,
        peft_config: Any = None,
        **kwargs: Any,
    ) -> None:
        """Drain ``weights`` (an FSDP collective: every rank must) and send the full tensors to the server."""
        from verl.workers.rollout.utils import ensure_async_iterator

        if wire_format != "named_tensors" or peft_config is not None:
            raise NotImplementedError(
                f"the CPU rollout takes full named tensors only (got wire_format={wire_format!r}, LoRA adapter "
                f"{peft_config is not None}); use checkpoint_engine.backend=naive and model.lora.merge=true"
            )
        named = {}
        async for name, tensor in ensure_async_iterator(weights):
            named[name] = tensor.detach().to("cpu", torch.float32, copy=True)
        server = ray.get_actor(self.server_name)
        await server.update_weights.remote(named, global_steps)


def register() -> None:
    """Register ``rollout.name=cpu`` in both of veRL's rollout registries, then read both back.

    Raises if veRL's registries moved or ignore the entries, so a broken registration never passes silently.
    """
    from verl.workers.rollout import base, replica

    replica.RolloutReplicaRegistry.register(ROLLOUT_NAME, lambda: CPURolloutReplica)
    base._ROLLOUT_REGISTRY[(ROLLOUT_NAME, "async")] = f"{__name__}.CPUServerAdapter"
    if replica.get_rollout_replica_class(ROLLOUT_NAME) is not CPURolloutReplica:
        raise RuntimeError("veRL's RolloutReplicaRegistry did not return the CPU rollout replica after registration")
    if base.get_rollout_class(ROLLOUT_NAME, "async") is not CPUServerAdapter:
        raise RuntimeError("veRL's get_rollout_class did not return the CPU rollout adapter after registration")
