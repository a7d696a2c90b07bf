"""Figures of a trace run, computed from the attempt records alone (so a resumed run reports all its work).

Acceptance rate = accepted samples / samples attempted. Attempts per accepted trace = all attempts
(failed requests included) / accepted samples: the teacher cost of one trace. Token cost = prompt and
completion tokens summed over every attempt, as the backend reported them (0 where unknown).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from gr2_verl.traces.store import Record


def distribution(values: Sequence[float]) -> dict[str, float]:
    """count, mean, min, p10, p50, p90, max (nearest-rank percentiles; zeros for no values).

    >>> distribution([1, 2, 3, 4])["p50"]
    2.0
    """
    if not values:
        return {"count": 0, "mean": 0.0, "min": 0.0, "p10": 0.0, "p50": 0.0, "p90": 0.0, "max": 0.0}
    ordered = sorted(float(v) for v in values)

    def pct(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]

    return {
        "count": len(ordered),
        "mean": sum(ordered) / len(ordered),
        "min": ordered[0],
        "p10": pct(0.1),
        "p50": pct(0.5),
        "p90": pct(0.9),
        "max": ordered[-1],
    }


def summarize(
    by_sample: Mapping[str, list[Record]],
    *,
    attempts_allowed: int,
    rows_selected: int,
    skipped_target_missing: int,
    answer_chars: Mapping[str, int],
) -> dict[str, Any]:
    """The run's figures; ``answer_chars`` holds the SFT assistant message length per accepted sample."""
    records = [r for recs in by_sample.values() for r in recs]
    accepted_at = {k: next(r["attempt"] for r in recs if r["accepted"]) for k, recs in by_sample.items()
                   if any(r["accepted"] for r in recs)}
    exhausted = sum(1 for k, recs in by_sample.items() if k not in accepted_at and len(recs) >= attempts_allowed)
    n_samples, n_accepted, n_attempts = len(by_sample), len(accepted_at), len(records)
    completion = [int(r["completion_tokens"]) for r in records]
    prompt = [int(r["prompt_tokens"]) for r in records]
    accepted_records = [r for recs in by_sample.values() for r in recs if r["accepted"]]
    return {
        "rows_selected": rows_selected,
        "skipped_target_missing": skipped_target_missing,
        "samples_attempted": n_samples,
        "samples_accepted": n_accepted,
        "samples_exhausted": exhausted,
        "samples_unfinished": n_samples - n_accepted - exhausted,
        "acceptance_rate": n_accepted / n_samples if n_samples else 0.0,
        "attempts_allowed": attempts_allowed,
        "attempts_total": n_attempts,
        "attempts_per_accepted": n_attempts / n_accepted if n_accepted else None,
        "attempt_acceptance_rate": n_accepted / n_attempts if n_attempts else 0.0,
        "accepted_at_attempt": {str(k): v for k, v in sorted(Counter(accepted_at.values()).items())},
        "status_counts": dict(sorted(Counter(r["status"] for r in records).items())),
        "finish_reasons": dict(sorted(Counter(r["finish_reason"] or "none" for r in records).items())),
        "failed_requests": sum(1 for r in records if r["error"]),
        "retries_total": sum(int(r["retries"]) for r in records),
        "tokens": {
            "prompt_total": sum(prompt),
            "completion_total": sum(completion),
            "total_per_accepted": (sum(prompt) + sum(completion)) / n_accepted if n_accepted else None,
        },
        "trace_completion_tokens": distribution([r["completion_tokens"] for r in accepted_records]),
        "trace_answer_chars": distribution(list(answer_chars.values())),
        "attempt_latency_s": distribution([r["latency_s"] for r in records]),
    }


def summary_markdown(summary: Mapping[str, Any], paths: Mapping[str, str]) -> str:
    """A short human report of ``summarize``'s figures."""
    s = summary
    per = s["attempts_per_accepted"]
    tokens = s["tokens"]
    lines = [
        "# Reasoning traces",
        "",
        "| figure | value |",
        "|---|---|",
        f"| samples attempted | {s['samples_attempted']} (skipped, target not in candidates: "
        f"{s['skipped_target_missing']}) |",
        f"| accepted | {s['samples_accepted']} ({s['acceptance_rate']:.1%}) |",
        f"| exhausted {s['attempts_allowed']} attempts | {s['samples_exhausted']} |",
        f"| unfinished (interrupted) | {s['samples_unfinished']} |",
        f"| attempts | {s['attempts_total']} ({'n/a' if per is None else f'{per:.2f}'} per accepted trace) |",
        f"| accepted at attempt | {', '.join(f'{k}: {v}' for k, v in s['accepted_at_attempt'].items()) or '-'} |",
        f"| parser status | {', '.join(f'{k}: {v}' for k, v in s['status_counts'].items()) or '-'} |",
        f"| failed requests / retries | {s['failed_requests']} / {s['retries_total']} |",
        f"| tokens (prompt + completion) | {tokens['prompt_total']} + {tokens['completion_total']} |",
        "",
        "| trace length | mean | p10 | p50 | p90 | max |",
        "|---|---|---|---|---|---|",
    ]
    for name, key in (("completion tokens", "trace_completion_tokens"), ("SFT answer chars", "trace_answer_chars")):
        cells = " | ".join(f"{s[key][q]:.0f}" for q in ("mean", "p10", "p50", "p90", "max"))
        lines.append(f"| {name} | {cells} |")
    lines += ["", *(f"- {name}: `{path}`" for name, path in paths.items()), ""]
    return "\n".join(lines)
