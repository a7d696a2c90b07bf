"""Prompt-length statistics with the real Qwen3 tokenizer and its chat template (``Qwen3ChatCounter``).

Two counts per prompt: with the base tokenizer (each SID splits into ~30 sub-word tokens) and with
the SID vocabulary added as normal tokens, as the trained model sees it (each SID = levels + 2
tokens). Counting a seeded sample of rows keeps this cheap on large datasets.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np

SAMPLE_ROWS = 200  # prompts counted per split: prompts vary little in length (same history cap and K)


def describe(lengths: Sequence[int]) -> dict[str, float]:
    """Count, mean, median, 90th percentile and max of token lengths."""
    if not lengths:
        return {"n": 0}
    a = np.asarray(lengths)
    return {
        "n": int(a.size),
        "mean": round(float(a.mean()), 1),
        "median": float(np.median(a)),
        "p90": float(np.percentile(a, 90)),
        "max": int(a.max()),
    }


def picked_rows(n: int, seed: int = 0) -> list[int]:
    """The row numbers (of a split's ``n`` RL rows) whose prompts are counted: all, or ``SAMPLE_ROWS`` seeded."""
    return list(range(n)) if n <= SAMPLE_ROWS else random.Random(seed).sample(range(n), SAMPLE_ROWS)


def prompt_length_stats(
    prompts_by_split: dict[str, list[list[dict[str, str]]]], sid_vocabulary: Sequence[str]
) -> dict[str, dict[str, dict[str, float]]]:
    """Per split: length stats of the picked prompts (``picked_rows``) with the base Qwen3 tokenizer and with
    SID tokens added."""
    from gr2_verl.qwen_tokenizer import Qwen3ChatCounter

    counter = Qwen3ChatCounter()  # count base lengths first, then add the SID tokens
    out = {split: {"base_tokenizer": describe(counter.lengths(p))} for split, p in prompts_by_split.items()}
    counter.add_tokens(sid_vocabulary)
    for split, prompts in prompts_by_split.items():
        out[split]["with_sid_tokens"] = describe(counter.lengths(prompts))
    return out
