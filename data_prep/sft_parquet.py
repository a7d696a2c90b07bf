"""Mid-training SFT rows (veRL ``MultiTurnSFTDataset``: a ``messages`` column) that teach the SID language.

Tasks (column ``task``), in the OneRec-Think / GR2 mid-training spirit:

- ``next_sid``: a user's SID history (training examples only: no validation or test target) -> next SID;
- ``sid_to_text``: SID -> item text ("captioning"); items whose SID another item shares are skipped
  (the answer would be ambiguous);
- ``text_to_sid``: item text -> SID;
- ``general``: chat examples from a user-given JSONL (``{"messages": [{"role", "content"}, ...]}`` per
  line) mixed in to keep general language ability.

Rows are shuffled with ``random.Random(seed)``, so the same inputs give the same file.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa

from gr2_verl.io import read_jsonl
from gr2_verl.rl_row import MESSAGES
from gr2_verl.types import Item, RerankSample, SidMap

SFT_SCHEMA = pa.schema([("messages", MESSAGES), ("task", pa.string())])
ROLES = ("system", "user", "assistant", "tool")


def _chat(user: str, assistant: str, task: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}], "task": task}


def next_sid_rows(samples: Iterable[RerankSample], sid_map: SidMap) -> list[dict[str, Any]]:
    """One row per training sample: its history SIDs (oldest first) -> the target's SID."""
    rows = []
    for s in samples:
        if s.split != "train":
            continue
        history = " ".join(sid_map.sid(h) for h in s.history)
        question = f"A user interacted with these items, oldest first: {history}\nPredict the SID of the next item."
        rows.append(_chat(question, sid_map.sid(s.targets[0]), "next_sid"))
    return rows


def item_rows(items: Mapping[str, Item], sid_map: SidMap) -> tuple[list[dict[str, Any]], int]:
    """Captioning and its inverse for every item; returns the rows and the count of ambiguous SIDs skipped."""
    sid_counts: dict[str, int] = {}
    for item_id in items:
        sid = sid_map.sid(item_id)
        sid_counts[sid] = sid_counts.get(sid, 0) + 1
    rows, skipped = [], 0
    for item_id, item in items.items():
        sid, text = sid_map.sid(item_id), item.text()
        if sid_counts[sid] == 1:
            rows.append(
                _chat(f"Which item has the semantic ID {sid}? Give its title and categories.", text, "sid_to_text")
            )
        else:
            skipped += 1
        rows.append(_chat(f"What is the semantic ID of this item: {text}", sid, "text_to_sid"))
    return rows, skipped


def load_general_text(path: str | Path) -> list[dict[str, Any]]:
    """Read ``{"messages": [...]}`` JSONL; ValueError names file, line and field of a bad row."""
    rows = []
    for where, data in read_jsonl(path):
        messages = data.get("messages")
        if not isinstance(messages, list) or not messages:
            raise ValueError(f"{where}: field 'messages' must be a non-empty list of chat messages")
        for n, m in enumerate(messages):
            if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
                raise ValueError(f"{where}: field 'messages[{n}]' needs a role in {ROLES} and a string content")
        rows.append({"messages": [{"role": m["role"], "content": m["content"]} for m in messages], "task": "general"})
    return rows


def midtrain_rows(
    samples: Iterable[RerankSample],
    items: Mapping[str, Item],
    sid_map: SidMap,
    *,
    seed: int = 0,
    general: list[dict[str, Any]] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """All mid-training rows, shuffled, and counts per task (plus ``sid_to_text_skipped``)."""
    rows = next_sid_rows(samples, sid_map)
    per_item, skipped = item_rows(items, sid_map)
    rows += per_item + list(general or [])
    random.Random(seed).shuffle(rows)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["task"]] = counts.get(r["task"], 0) + 1
    counts["sid_to_text_skipped"] = skipped
    return rows, counts
