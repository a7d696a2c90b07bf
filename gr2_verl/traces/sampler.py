"""Rejection sampling of teacher traces over an RL parquet, resumable, written as veRL SFT data.

Each sample gets up to ``attempts`` teacher answers, one per wave, and stops at the first accepted one.
A wave sends the next attempt of up to ``batch_size`` open samples to the backend and records each answer
the moment it arrives in ``attempts.jsonl`` (see ``store``). Re-running on the same folder continues:
samples already accepted or out of attempts are skipped and attempt numbers carry on, so nothing is
duplicated or lost. ``run.json`` pins what gives stored attempts their meaning (input file, mode,
acceptance rule, hints); a resume that changes them is refused. Attempts, decoding and backend may change.

Rows whose target is not among the candidates (pre-ranker misses) can never be right and are skipped.
Each attempt's seed derives from (seed, sample key, attempt), so a rerun asks the same questions.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gr2_verl.io import atomic_write_text
from gr2_verl.traces.acceptance import AcceptRule, judge_attempt, sft_answer
from gr2_verl.traces.backends import Backend, Request, Sampling
from gr2_verl.traces.store import AttemptLog, sft_messages, write_sft_parquet
from gr2_verl.traces.summary import summarize, summary_markdown
from gr2_verl.traces.teacher_prompts import MODES, teacher_messages
from gr2_verl.types import GroundTruth, parse_ground_truth

RL_COLUMNS = ("data_source", "prompt", "reward_model", "extra_info")


@dataclass(frozen=True)
class TraceRow:
    """One RL parquet row as the sampler needs it; ``key`` is ``extra_info.sample_id`` (else ``row<N>``)."""

    key: str
    index: int
    data_source: str
    prompt: list[dict[str, str]]
    ground_truth: str
    truth: GroundTruth
    extra_info: dict[str, Any]

    @property
    def target_in_candidates(self) -> bool:
        return self.truth.targets[0] in self.truth.candidates


@dataclass(frozen=True)
class TraceConfig:
    """Everything that decides what a run asks and keeps."""

    mode: str = "rejection"
    rule: AcceptRule = field(default_factory=AcceptRule)
    sampling: Sampling = field(default_factory=Sampling)
    attempts: int = 4  # "up to N" in GR2, N unstated (open)
    hints: str | None = None
    batch_size: int = 256  # one wave; several times the HTTP concurrency, so a wave's slow tail idles few workers
    seed: int = 0


@dataclass(frozen=True)
class TraceResult:
    """What a run wrote: output paths (name -> path) and the summary figures."""

    paths: dict[str, str]
    summary: dict[str, Any]


def read_rl_rows(path: str | os.PathLike) -> list[TraceRow]:
    """Read and check an RL parquet (schema of CONTRACTS.md); errors name the file, row and field."""
    from gr2_verl.io import read_parquet

    table = read_parquet(path)
    missing = [c for c in RL_COLUMNS if c not in table.column_names]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}")
    rows, seen = [], {}
    for i, row in enumerate(table.select(list(RL_COLUMNS)).to_pylist()):
        where = f"{path}: row {i}"
        prompt = row["prompt"] or []
        if not all(isinstance(m, dict) and isinstance(m.get("content"), str) for m in prompt) or [
            m.get("role") for m in prompt
        ] != ["system", "user"]:
            raise ValueError(f"{where}: field 'prompt' must be [system, user] chat messages with string content")
        ground_truth = (row["reward_model"] or {}).get("ground_truth")
        try:
            truth = parse_ground_truth(ground_truth)
        except ValueError as e:
            raise ValueError(f"{where}: field 'reward_model.ground_truth': {e}") from None
        extra = dict(row["extra_info"] or {})
        key = str(extra.get("sample_id") or f"row{i}")
        if key in seen:
            raise ValueError(f"{where}: field 'extra_info.sample_id' repeats '{key}' (first at row {seen[key]})")
        seen[key] = i
        gt_json = ground_truth if isinstance(ground_truth, str) else truth.to_json()
        prompt = [{"role": m["role"], "content": m["content"]} for m in prompt]
        rows.append(TraceRow(key, i, str(row["data_source"] or ""), prompt, gt_json, truth, extra))
    return rows


def attempt_seed(seed: int, key: str, attempt: int) -> int:
    """A stable 31-bit seed per (run seed, sample, attempt)."""
    digest = hashlib.sha256(f"{seed}/{key}/{attempt}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def run_traces(
    rl_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    backend: Backend,
    config: TraceConfig,
    *,
    model: str = "",
    limit: int | None = None,
    progress: bool = True,
) -> TraceResult:
    """Sample traces for the first ``limit`` rows of ``rl_path`` into ``out_dir`` (resuming), then write outputs.

    Outputs: ``attempts.jsonl`` (every attempt), ``sft.parquet`` (one row per accepted sample, input order),
    ``summary.json`` and ``summary.md``.
    """
    from tqdm import tqdm

    if config.attempts < 1 or config.batch_size < 1:
        raise ValueError("attempts and batch_size must be >= 1")
    if config.mode not in MODES:
        raise ValueError(f"unknown teacher mode '{config.mode}', expected one of {MODES}")
    out = Path(out_dir)
    all_rows = read_rl_rows(rl_path)
    rows = all_rows[:limit] if limit is not None else all_rows
    _check_run_config(out / "run.json", rl_path, config)
    log = AttemptLog(out / "attempts.jsonl")
    try:
        eligible = [r for r in rows if r.target_in_candidates]
        todo = _open_rows(eligible, log, config.attempts)
        bar = tqdm(total=len(eligible), initial=len(eligible) - len(todo), desc="traces", unit="sample",
                   disable=not progress)
        while todo:
            wave = todo[: config.batch_size]
            _run_wave(wave, log, backend, config, model, bar)
            log.sync()
            todo = _open_rows(eligible, log, config.attempts)
        bar.close()
    finally:
        log.close()
    return _write_outputs(out, all_rows, rows, log, config)


def _open_rows(rows: Sequence[TraceRow], log: AttemptLog, attempts: int) -> list[TraceRow]:
    by_sample = log.by_sample()
    return [
        r for r in rows
        if not any(rec["accepted"] for rec in by_sample.get(r.key, ())) and len(by_sample.get(r.key, ())) < attempts
    ]


def _run_wave(
    wave: Sequence[TraceRow], log: AttemptLog, backend: Backend, config: TraceConfig, model: str, bar: Any
) -> None:
    by_sample = log.by_sample()
    numbers = [max((rec["attempt"] for rec in by_sample.get(r.key, ())), default=0) + 1 for r in wave]
    requests = [
        Request(
            messages=teacher_messages(r.prompt, r.truth, mode=config.mode, hints=config.hints),
            seed=attempt_seed(config.seed, r.key, n),
            request_id=f"{r.key}/{n}",
        )
        for r, n in zip(wave, numbers, strict=True)
    ]
    for i, completion in backend.generate(requests, config.sampling):
        row = wave[i]
        verdict = judge_attempt(
            completion.text, row.ground_truth, config.rule, data_source=row.data_source, extra_info=row.extra_info
        )
        log.append(
            {
                "sample_key": row.key,
                "row": row.index,
                "attempt": numbers[i],
                "seed": requests[i].seed,
                "accepted": verdict.accepted,
                "status": verdict.status,
                "target_in_pos": verdict.target_in_pos,
                "target_out_pos": verdict.target_out_pos,
                "reward": verdict.reward,
                "text": completion.text,
                "error": completion.error,
                "finish_reason": completion.finish_reason,
                "prompt_tokens": completion.prompt_tokens,
                "completion_tokens": completion.completion_tokens,
                "latency_s": round(completion.latency_s, 4),
                "retries": completion.retries,
                "backend": backend.name,
                "model": model,
                "temperature": config.sampling.temperature,
                "time": time.time(),
            }
        )
        if verdict.accepted or numbers[i] >= config.attempts:
            bar.update(1)


def _check_run_config(path: Path, rl_path: str | os.PathLike, config: TraceConfig) -> None:
    pinned = {
        "input_sha256": hashlib.sha256(Path(rl_path).read_bytes()).hexdigest(),
        "mode": config.mode,
        "accept": config.rule.to_json(),
        "hints": config.hints,
    }
    if path.exists():
        stored = json.loads(path.read_text(encoding="utf-8"))
        changed = sorted(k for k in pinned if stored.get(k) != pinned[k])
        if changed:
            raise ValueError(
                f"{path}: this folder holds attempts made with different {', '.join(changed)}; "
                "use a new --out folder (or the original settings) to keep the attempts meaningful"
            )
        return
    atomic_write_text(path, json.dumps({**pinned, "input": str(Path(rl_path).resolve())}, indent=2))


def _write_outputs(
    out: Path, all_rows: Sequence[TraceRow], rows: Sequence[TraceRow], log: AttemptLog, config: TraceConfig
) -> TraceResult:
    """Rebuild the SFT parquet and summary from the whole log (every row with attempts, input order)."""
    by_sample = log.by_sample()
    sft_rows, chars = [], {}
    for row in all_rows:
        accepted = next((rec for rec in by_sample.get(row.key, ()) if rec["accepted"]), None)
        if accepted is None:
            continue
        answer = sft_answer(accepted["text"])
        chars[row.key] = len(answer)
        sft_rows.append(
            {
                "messages": sft_messages(row.prompt, answer),
                "data_source": row.data_source,
                "sample_id": row.key,
                "attempt": int(accepted["attempt"]),
                "reward": float(accepted["reward"]),
            }
        )
    paths = {name: str(out / name) for name in ("attempts.jsonl", "sft.parquet", "summary.json", "summary.md")}
    write_sft_parquet(paths["sft.parquet"], sft_rows)
    summary = summarize(
        by_sample,
        attempts_allowed=config.attempts,
        rows_selected=len(rows),
        skipped_target_missing=sum(1 for r in rows if not r.target_in_candidates),
        answer_chars=chars,
    )
    summary["log_repairs"] = {"truncated_tail_bytes": log.truncated_bytes, "duplicate_lines_ignored": log.duplicates}
    atomic_write_text(paths["summary.json"], json.dumps(summary, indent=2))
    atomic_write_text(paths["summary.md"], summary_markdown(summary, paths))
    return TraceResult(paths=paths, summary=summary)
