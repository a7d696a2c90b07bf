"""Fixtures for the traces tests: RL parquet files in the gr2_verl.rl_row schema and a scripted OpenAI server.

The server answers ``POST /v1/chat/completions`` on 127.0.0.1 from a script keyed by the request's
``X-Request-ID`` (``<sample>/<attempt>``): one list of behaviours per attempt, one behaviour per try, so
a retried try gets the next behaviour. Nothing leaves the machine.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gr2_verl.types import GroundTruth, sid_string

K = 10


def make_row(i: int, target_pos: int = 3, k: int = K) -> dict:
    """One RL row (data_prep's schema); ``target_pos`` 1-based, 0 = pre-ranker miss."""
    cands = [sid_string([i, j, j, 1]) for j in range(k)]
    target = cands[target_pos - 1] if target_pos else sid_string([i, 200, 200, 200])
    history = [sid_string([i, 100 + h, 0, 0]) for h in range(3)]
    user = "\n".join(
        [
            f"The user's history, oldest first ({len(history)} items):",
            *(f"{n}. {sid} Item sample{i}-h{n} | Books" for n, sid in enumerate(history, 1)),
            "",
            f"Candidates to re-rank ({k} items):",
            *(f"- {sid} Item sample{i}-c{j} | Books" for j, sid in enumerate(cands)),
            "",
            'Finish with one JSON object: {"reasoning": "...", "ranking": [...]}',
        ]
    )
    return {
        "data_source": "gr2/test",
        "prompt": [
            {"role": "system", "content": "You are an expert recommender-systems analyst."},
            {"role": "user", "content": user},
        ],
        "ability": "rerank",
        "reward_model": {"style": "rule", "ground_truth": GroundTruth(tuple(cands), (target,)).to_json()},
        "extra_info": {
            "split": "train",
            "index": i,
            "sample_id": f"s{i}",
            "user_id": f"u{i}",
            "target_in_candidates": target_pos > 0,
            "target_in_pos": target_pos,
            "shown_order": list(range(k)),
            "candidate_item_ids": [f"item{i}_{j}" for j in range(k)],
            "candidate_popularity": [10 * (k - j) for j in range(k)],
        },
    }


def write_rl_parquet(path: Path, rows: list[dict]) -> Path:
    import pandas as pd

    pd.DataFrame(rows).to_parquet(path)
    return path


@pytest.fixture()
def rl_parquet(tmp_path) -> Callable[..., Path]:
    """``rl_parquet(target_positions)`` writes one row per position (sample ids s0, s1, ...).

    ``mutate(rows)`` may break the rows (as dicts) before writing, for bad-input tests.
    """

    def make(target_positions: list[int], name: str = "train.parquet", mutate: Callable | None = None) -> Path:
        rows = [make_row(i, p) for i, p in enumerate(target_positions)]
        if mutate is not None:
            mutate(rows)
        return write_rl_parquet(tmp_path / name, rows)

    return make


def answer(truth: GroundTruth, behaviour: str) -> str:
    """A teacher answer of one kind for one ground truth."""
    cands, target = list(truth.candidates), truth.targets[0]
    rest = [c for c in cands if c != target]
    if behaviour in ("right", "slow"):
        order = [target, *rest]
    elif behaviour == "wrong":  # target last
        order = [*rest, target]
    elif behaviour == "promoted":  # target up one place, not first
        order = list(cands)
        p = order.index(target)
        order[p - 1], order[p] = order[p], order[p - 1]
    elif behaviour == "no_json":
        return "The user clearly likes books, so the first candidate fits best."
    elif behaviour == "bad_json":
        return '{"reasoning": "x", "ranking": "first one"}'
    elif behaviour == "duplicate":
        order = [cands[0], *cands[:-1]]
    else:
        raise ValueError(behaviour)
    steps = (
        f"Step 1: the history shows a steady interest in books.\nStep 2: {order[0]} fits best, {order[1]} next.\n"
        f"Step 3: {order[0]} is the most likely next item."
    )
    body = json.dumps({"reasoning": f"{order[0]} matches the history best.", "ranking": order})
    return f"{steps}\n```json\n{body}\n```"


class ScriptedServer:
    """An OpenAI-compatible chat server on 127.0.0.1 that follows a per-attempt, per-try script."""

    def __init__(self, truths: dict[str, GroundTruth], script: dict[str, list[list[str]]], default: str = "right",
                 delay_s: float = 0.0, slow_s: float = 1.5):
        self.truths, self.script, self.default = truths, script, default
        self.delay_s, self.slow_s = delay_s, slow_s
        self.tries: dict[str, int] = {}
        self.requests: list[dict] = []
        self.inflight = self.max_inflight = 0
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def behaviour(self, request_id: str) -> str:
        sample, attempt = request_id.rsplit("/", 1)
        with self.lock:
            n = self.tries.get(request_id, 0)
            self.tries[request_id] = n + 1
        plan = self.script.get(sample, [])
        tries = plan[int(attempt) - 1] if int(attempt) <= len(plan) else [self.default]
        return tries[min(n, len(tries) - 1)]

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                rid = self.headers.get("X-Request-ID", "")
                with server.lock:
                    server.inflight += 1
                    server.max_inflight = max(server.max_inflight, server.inflight)
                    server.requests.append({"id": rid, "auth": self.headers.get("Authorization"), "body": body})
                try:
                    self._answer(body, rid)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                    pass
                finally:
                    with server.lock:
                        server.inflight -= 1

            def _answer(self, body, rid):
                if self.path != "/v1/chat/completions":
                    return self._send(404, {"error": "not found"})
                kind = server.behaviour(rid)
                time.sleep(server.delay_s)
                if kind == "fail":
                    return self._send(500, {"error": "scripted failure"})
                if kind == "429":
                    return self._send(429, {"error": "slow down"}, {"Retry-After": "0"})
                if kind == "bad_request":
                    return self._send(400, {"error": "scripted bad request"})
                if kind == "slow":
                    time.sleep(server.slow_s)
                text = answer(server.truths[rid.rsplit("/", 1)[0]], kind)
                prompt_chars = sum(len(m["content"]) for m in body["messages"])
                self._send(200, {
                    "id": "chatcmpl-1", "object": "chat.completion", "model": body["model"],
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": text}}],
                    "usage": {"prompt_tokens": prompt_chars // 4, "completion_tokens": len(text) // 4,
                              "total_tokens": prompt_chars // 4 + len(text) // 4},
                })

            def _send(self, status, payload, headers=None):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def scripted_server():
    """``scripted_server(rl_path, script, **options)`` starts a server for the rows of one RL parquet."""
    from gr2_verl.rl_row import read_rl_rows

    servers: list[ScriptedServer] = []

    def start(rl_path: Path, script: dict[str, list[list[str]]], **options) -> ScriptedServer:
        truths = {r.key: r.truth for r in read_rl_rows(rl_path)}
        servers.append(ScriptedServer(truths, script, **options))
        return servers[-1]

    yield start
    for s in servers:
        s.close()
