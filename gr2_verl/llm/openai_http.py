"""LLM client over an OpenAI-compatible ``/chat/completions`` endpoint (vLLM ``serve``, SGLang, hosted APIs).

At most ``concurrency`` requests are in flight. A try that times out, fails to connect, or gets HTTP 408,
409, 425, 429 or 5xx is retried up to ``max_retries`` times after ``backoff_s * 2**k`` seconds (k = 0, 1,
...; capped at ``MAX_BACKOFF_S``, jittered down to half so clients desynchronise; a ``Retry-After``
header wins when longer). Other HTTP errors (400, 401, 404, ...) fail at once: retrying cannot fix them.
The API key is read from the environment variable ``api_key_env`` (none sent when it is unset, as a
local vLLM server needs none); it never appears in arguments, logs or files.
"""

from __future__ import annotations

import os
import queue
import random
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import httpx

from gr2_verl.llm.backend import Completion, Request, Sampling

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
MAX_BACKOFF_S = 60.0  # longer waits suggest an outage; better to record the error and move on


class OpenAIBackend:
    """Chat completions over HTTP with a concurrency limit, per-try timeouts and retries with backoff."""

    name = "http"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 16,
        timeout_s: float = 300.0,
        max_retries: int = 4,
        backoff_s: float = 2.0,
        extra_body: Mapping[str, Any] | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.extra_body = dict(extra_body or {})
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self._client = httpx.Client(headers=headers, timeout=httpx.Timeout(timeout_s), limits=limits)

    def generate(self, requests: Sequence[Request], sampling: Sampling) -> Iterator[tuple[int, Completion]]:
        """Send every request (``concurrency`` at a time) and yield each completion as it arrives.

        Workers are daemon threads: when the caller stops (Ctrl-C), the process exits at once instead of
        waiting up to ``timeout_s`` for requests in flight; their answers were never recorded, so a resume
        asks again.
        """
        todo: queue.SimpleQueue[tuple[int, Request]] = queue.SimpleQueue()
        for item in enumerate(requests):
            todo.put(item)
        done: queue.SimpleQueue[tuple[int, Completion | BaseException]] = queue.SimpleQueue()
        stop = threading.Event()

        def work() -> None:
            while not stop.is_set():
                try:
                    i, request = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    done.put((i, self._complete(request, sampling)))
                except BaseException as e:  # a bug, not a server failure: hand it to the caller
                    done.put((i, e))
                    return

        for _ in range(min(self.concurrency, len(requests))):
            threading.Thread(target=work, name="gr2-teacher", daemon=True).start()
        try:
            for _ in range(len(requests)):
                i, result = _get_interruptibly(done)
                if isinstance(result, BaseException):
                    raise result
                yield i, result
        finally:
            stop.set()

    def close(self) -> None:
        self._client.close()

    def _body(self, request: Request, sampling: Sampling) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": request.messages,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_tokens,
            "seed": request.seed,
            **self.extra_body,
        }

    def _complete(self, request: Request, sampling: Sampling) -> Completion:
        body = self._body(request, sampling)
        headers = {"X-Request-ID": request.request_id}
        start = time.monotonic()
        error, retry_after = "", 0.0
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self._delay(attempt - 1, retry_after))
            retry_after = 0.0
            try:
                response = self._client.post(self.url, json=body, headers=headers)
            except httpx.TimeoutException:
                error = "timeout"
                continue
            except httpx.RequestError as e:  # connection refused or reset, protocol or decoding errors
                error = f"request error: {type(e).__name__}"
                continue
            if response.status_code == 200:
                return _completion(response, time.monotonic() - start, attempt)
            error = f"HTTP {response.status_code}: {response.text[:200]}"
            if response.status_code not in RETRY_STATUS:
                return Completion(None, latency_s=time.monotonic() - start, retries=attempt, error=error)
            retry_after = _retry_after(response)
        return Completion(None, latency_s=time.monotonic() - start, retries=self.max_retries, error=error)

    def _delay(self, k: int, retry_after: float) -> float:
        backoff = min(MAX_BACKOFF_S, self.backoff_s * 2**k) * random.uniform(0.5, 1.0)
        return max(backoff, min(retry_after, MAX_BACKOFF_S))


def _retry_after(response: httpx.Response) -> float:
    try:
        return float(response.headers.get("Retry-After", 0))
    except ValueError:  # an HTTP date: fall back to our own backoff
        return 0.0


def _completion(response: httpx.Response, latency_s: float, retries: int) -> Completion:
    """Read one chat completion; a reasoning parser's separate field comes back as a think block."""
    try:
        data = response.json()
        choice = data["choices"][0]
        message = choice["message"]
    except (ValueError, KeyError, IndexError, TypeError):
        return Completion(None, latency_s=latency_s, retries=retries, error=f"bad response: {response.text[:200]}")
    content = message.get("content") or ""
    thought = message.get("reasoning_content") or message.get("reasoning")
    if thought:
        content = f"<think>\n{thought}\n</think>\n\n{content}"
    usage = data.get("usage") or {}
    return Completion(
        text=content,
        finish_reason=str(choice.get("finish_reason") or ""),
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
        latency_s=latency_s,
        retries=retries,
    )


def _get_interruptibly(q: queue.SimpleQueue) -> Any:
    """``q.get()`` that still lets Ctrl-C through.

    A process-wide SIGINT may be delivered to a worker thread blocked in a socket read; the main thread
    then runs Python's handler only once it executes bytecode again, so a plain blocking ``get()`` would
    hold Ctrl-C until a request in flight finished. Waking every 0.1 s bounds that delay.
    """
    while True:
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            continue
