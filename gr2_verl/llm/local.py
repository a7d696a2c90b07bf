"""In-process LLMs: ``transformers`` generation (CPU, small models, tests) and the vLLM offline engine (GPU).

Both apply the model's own chat template with the generation prompt, sample each request with its own
seed, and count tokens with the model's tokenizer. Unlike HTTP, a local engine failure is a real fault
(out of memory, bad weights) and raises.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

from gr2_verl.llm.backend import Completion, Request, Sampling


class TransformersBackend:
    """Sequential ``model.generate`` with a per-request ``torch.manual_seed``; meant for small models on CPU."""

    name = "transformers"

    def __init__(self, model_path: str, *, device: str = "cpu") -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        # sdpa: veRL's flash_attention_2 default does not exist on CPU
        self.model = AutoModelForCausalLM.from_pretrained(model_path, attn_implementation="sdpa").to(device)
        self.model.eval()
        self.device = device

    def generate(self, requests: Sequence[Request], sampling: Sampling) -> Iterator[tuple[int, Completion]]:
        import torch

        eos = self.model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos])
        for i, request in enumerate(requests):
            start = time.monotonic()
            inputs = self.tokenizer.apply_chat_template(
                request.messages, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"
            ).to(self.device)
            prompt_len = inputs["input_ids"].shape[1]
            torch.manual_seed(request.seed)
            with torch.no_grad():
                out = self.model.generate(
                    **inputs,
                    do_sample=sampling.temperature > 0,
                    temperature=sampling.temperature if sampling.temperature > 0 else None,
                    top_p=sampling.top_p if sampling.temperature > 0 else None,
                    max_new_tokens=sampling.max_tokens,
                    pad_token_id=self.tokenizer.pad_token_id,
                )
            new = out[0, prompt_len:].tolist()
            stopped = any(t in eos_ids for t in new)
            yield i, Completion(
                text=self.tokenizer.decode(new, skip_special_tokens=True),
                finish_reason="stop" if stopped else "length",
                prompt_tokens=prompt_len,
                completion_tokens=len(new),
                latency_s=time.monotonic() - start,
            )

    def close(self) -> None:
        del self.model


class VLLMBackend:
    """vLLM's offline ``LLM.chat`` over a whole wave of requests at once (needs a GPU and ``pip install vllm``)."""

    name = "vllm"

    def __init__(self, model_path: str, *, tensor_parallel_size: int = 1, max_model_len: int | None = None) -> None:
        try:
            from vllm import LLM
        except ImportError as e:
            raise ImportError("the vllm backend needs vLLM on a GPU machine: pip install -e '.[gpu]'") from e
        self.llm = LLM(model=model_path, tensor_parallel_size=tensor_parallel_size, max_model_len=max_model_len)

    def generate(self, requests: Sequence[Request], sampling: Sampling) -> Iterator[tuple[int, Completion]]:
        from vllm import SamplingParams

        params = [
            SamplingParams(
                temperature=sampling.temperature, top_p=sampling.top_p, max_tokens=sampling.max_tokens, seed=r.seed
            )
            for r in requests
        ]
        start = time.monotonic()
        outputs = self.llm.chat([r.messages for r in requests], sampling_params=params, use_tqdm=False)
        per_request = (time.monotonic() - start) / max(1, len(requests))  # batched: only the mean is known
        for i, out in enumerate(outputs):
            best = out.outputs[0]
            yield i, Completion(
                text=best.text,
                finish_reason=str(best.finish_reason or ""),
                prompt_tokens=len(out.prompt_token_ids or ()),
                completion_tokens=len(best.token_ids),
                latency_s=per_request,
            )

    def close(self) -> None:
        del self.llm
