"""SFT rows shaped like the writers' (data_prep mid-training tasks, the traces contract), for recipe tests."""

from __future__ import annotations

import json

import pytest

from gr2_verl.types import sid_string

SIDS = [sid_string([i, 2 * i, 3 * i, 4 * i]) for i in range(10)]


@pytest.fixture()
def midtrain_rows() -> list[dict]:
    """Rows shaped like data_prep's mid-training tasks: user -> assistant, no system, no reasoning."""
    rows = []
    for i in range(4):
        history = " ".join(SIDS[i : i + 5])
        ask = f"A user interacted with these items, oldest first: {history}\nPredict the SID of the next item."
        rows.append(
            {
                "messages": [{"role": "user", "content": ask}, {"role": "assistant", "content": SIDS[i + 5]}],
                "task": "next_sid",
            }
        )
        ask = f"Which item has the semantic ID {SIDS[i]}? Give its title and categories."
        rows.append(
            {
                "messages": [
                    {"role": "user", "content": ask},
                    {"role": "assistant", "content": f"Item {i} | Beauty > Skin Care"},
                ],
                "task": "sid_to_text",
            }
        )
    return rows


@pytest.fixture()
def trace_rows() -> list[dict]:
    """Rows shaped like the traces contract: the RL prompt + the answer, its reasoning either in a Qwen3
    <think> block (even rows) or as plain text before the JSON (odd rows, what `gr2 traces` writes)."""
    rows = []
    for i in range(8):
        reasoning = f"The user buys skin care; {SIDS[(i + 1) % 10]} fits."
        order = SIDS[i:] + SIDS[:i]
        user = "History:\n" + "\n".join(SIDS[:3]) + "\nCandidates:\n" + "\n".join(order)
        answer = json.dumps(
            {"reasoning": f"{order[1]} follows the history.", "ranking": [order[1], order[0], *order[2:]]}
        )
        rows.append(
            {
                "messages": [
                    {"role": "system", "content": "You are an expert recommender. Rerank the candidates."},
                    {"role": "user", "content": user},
                    {
                        "role": "assistant",
                        "content": f"<think>\n{reasoning}\n</think>\n\n{answer}"
                        if i % 2 == 0
                        else f"{reasoning}\n\n{answer}",
                    },
                ],
                "task": "rerank",
            }
        )
    return rows
