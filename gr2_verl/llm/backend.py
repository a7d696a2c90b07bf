"""The LLM backend interface: chat requests in, completions out, in any order.

A backend turns ``Request`` s (chat messages + a seed) into ``Completion`` s. ``generate`` yields
``(request index, completion)`` pairs as each finishes, so the sampler can record every answer the moment
it exists (an interrupted HTTP run loses only requests still in flight). Failures come back as a
``Completion`` with ``error`` set, never as an exception: one bad request must not stop a long run.

Implementations: ``openai_http.OpenAIBackend`` (vLLM ``serve``, SGLang, hosted APIs),
``local.VLLMBackend`` (offline engine, GPU) and ``local.TransformersBackend`` (CPU).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Sampling:
    """Decoding settings shared by every request of a run."""

    temperature: float = 0.8
    top_p: float = 0.95
    max_tokens: int = 2048  # ~130 reasoning tokens per sample in GR2; room for verbose teachers


@dataclass(frozen=True)
class Request:
    """One chat call; ``seed`` makes an attempt reproducible where the backend supports seeds.

    ``request_id`` names the attempt (``sample/attempt``) in server logs and scripted test servers.
    """

    messages: list[dict[str, str]]
    seed: int
    request_id: str


@dataclass(frozen=True)
class Completion:
    """One answer, or the error that prevented it (then ``text`` is None).

    Token counts come from the server's ``usage`` or the local tokenizer (0 when unknown);
    ``retries`` counts extra tries after failures; ``latency_s`` covers all tries.
    """

    text: str | None
    finish_reason: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    retries: int = 0
    error: str | None = None


class Backend(Protocol):
    """What a caller (the trace sampler, a reranking server) needs from an LLM."""

    name: str

    def generate(self, requests: Sequence[Request], sampling: Sampling) -> Iterator[tuple[int, Completion]]:
        """Yield ``(index into requests, completion)`` once for every request, in completion order."""
        ...

    def close(self) -> None:
        """Release connections, threads and models."""
        ...
