"""Mid-training SFT rows (veRL ``MultiTurnSFTDataset``: a ``messages`` column) that teach the SID language.

Tasks (column ``task``), in the OneRec-Think / GR2 mid-training spirit:

- ``next_sid``: a user's SID history (training examples only: no validation or test target) -> next SID;
- ``sid_to_text``: SID -> item text ("captioning"); items whose SID another item shares are skipped
  (the answer would be ambiguous);
- ``text_to_sid``: item text -> SID;
- ``general``: chat examples from a user-given JSONL (``{"messages": [{"role", "content"}, ...]}`` per
  line) mixed in to keep general language ability.

Rows are shuffled with ``random.Random(seed)``, so the same inputs give the same file; they are built with
arrow string kernels a chunk at a time (``midtrain_chunks``), so memory stays flat as the log grows.
"""

from __future__ import annotations

import array
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from data_prep.interactions import Ragged
from data_prep.rl_parquet import Catalogue, chat_pairs, list_array
from data_prep.sample_table import SampleShards
from gr2_verl.io import read_jsonl
from gr2_verl.rl_row import MESSAGES

SFT_SCHEMA = pa.schema([("messages", MESSAGES), ("task", pa.string())])
CHUNK_ROWS = 20_000  # rows built and written at once (a parquet row group), whatever the dataset size
ROLES = ("system", "user", "assistant", "tool")


def _items(cat: Catalogue) -> tuple[np.ndarray, np.ndarray, int]:
    """Item rows in order: (catalogue index, 1 = sid_to_text / 0 = text_to_sid), and the ambiguous SIDs skipped.

    Per item: captioning first (only when no other item shares its SID), then its inverse.
    """
    unique = np.bincount(cat.sid_group)[cat.sid_group] == 1
    per_item = 1 + unique.astype(np.int64)
    item = np.repeat(np.arange(len(unique)), per_item)
    caption = np.zeros(len(item), dtype=bool)
    caption[(np.cumsum(per_item) - per_item)[unique]] = True
    return item, caption, int((~unique).sum())


@dataclass(frozen=True)
class _Training:
    """The training samples' histories (start and length in ``values``) and first targets, in sample order:
    ~9 bytes a sample (a ``Ragged`` and int64 targets took ~28), kept while the shuffled next-SID rows are built."""

    values: np.ndarray  # the shards' shared item codes
    starts: np.ndarray  # int32 (int64 from 2**31 values)
    lengths: np.ndarray  # uint8 (uint16, int64 for longer histories)
    targets: np.ndarray  # int32 item codes

    def histories(self, rows: np.ndarray) -> Ragged:
        return Ragged(self.values, self.starts[rows].astype(np.int64), self.lengths[rows].astype(np.int64))


def _training(shards: SampleShards) -> _Training:
    """``_Training`` of every shard (their histories share one sequence array; copied into one when not)."""
    parts, targets = [], []
    for table in shards:
        rows = np.flatnonzero(table.splits == 0)
        hist = table.histories.take(rows)
        parts.append((hist.values, _small(hist.starts), _small(hist.lengths)))
        targets.append(table.targets.values[table.targets.starts[rows]].astype(np.int32))
    if not parts:
        return _Training(np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0, np.uint8), np.zeros(0, np.int32))
    if any(values is not parts[0][0] for values, _, _ in parts):  # tables with arrays of their own (small callers)
        whole = Ragged.concat([Ragged(v, s.astype(np.int64), n.astype(np.int64)) for v, s, n in parts])
        parts = [(whole.values, _small(whole.starts), _small(whole.lengths))]
    # shards' dtypes may differ: concatenate widens to the widest
    starts, lengths = np.concatenate([s for _, s, _ in parts]), np.concatenate([n for _, _, n in parts])
    return _Training(parts[0][0], starts, lengths, np.concatenate(targets))


def _small(values: np.ndarray) -> np.ndarray:
    """Non-negative int64s in the smallest of uint8, uint16, int32 that holds them (else as they are)."""
    top = values.max(initial=0)
    return next((values.astype(t) for t in (np.uint8, np.uint16, np.int32) if top <= np.iinfo(t).max), values)


def _next_sid(training: _Training, cat: Catalogue, rows: np.ndarray) -> pa.ListArray:
    """SID history (oldest first) -> the target's SID, for the training samples ``rows``."""
    hist = training.histories(rows)
    history = pc.binary_join(list_array(cat.sids.take(pa.array(cat.code[hist.flat()])), hist.lengths), " ")
    question = pc.binary_join_element_wise(
        "A user interacted with these items, oldest first: ", history, "\nPredict the SID of the next item.", ""
    )
    return chat_pairs("user", question, "assistant", cat.sids.take(pa.array(cat.code[training.targets[rows]])))


def _item_chats(cat: Catalogue, item: np.ndarray, caption: np.ndarray) -> pa.ListArray:
    """Captioning (SID -> text) where ``caption``, else its inverse (text -> SID)."""
    sids, texts = cat.sids.take(pa.array(item)), cat.texts.take(pa.array(item))
    mask = pa.array(caption)
    question = pc.if_else(
        mask,
        pc.binary_join_element_wise("Which item has the semantic ID ", sids, "? Give its title and categories.", ""),
        pc.binary_join_element_wise("What is the semantic ID of this item: ", texts, ""),
    )
    return chat_pairs("user", question, "assistant", pc.if_else(mask, texts, sids))


def midtrain_chunks(
    shards: SampleShards,
    cat: Catalogue,
    *,
    seed: int = 0,
    general: list[dict[str, Any]] | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> tuple[dict[str, int], Iterator[pa.Table]]:
    """Counts per task (plus ``sid_to_text_skipped``) and the shuffled rows (``SFT_SCHEMA``), a chunk at a time.

    Row order: next-SID rows (training samples in sample order), item rows, general rows, shuffled by
    ``random.Random(seed)``: the permutation depends only on the row count, so rows are built for it
    chunk by chunk instead of all held at once.
    """
    training = _training(shards)
    item, caption, skipped = _items(cat)
    general = list(general or [])
    sizes = (len(training.targets), len(item), len(general))
    # 4 bytes a row (8 from 2**31 rows; a list of ints: ~36); the shuffle depends only on the length
    order = array.array("i" if sum(sizes) < 2**31 else "q", range(sum(sizes)))
    random.Random(seed).shuffle(order)
    perm = np.frombuffer(order, dtype=np.int32 if order.typecode == "i" else np.int64)
    counts = {"next_sid": sizes[0], "sid_to_text": int(caption.sum()), "text_to_sid": int((~caption).sum())}
    counts = {task: n for task, n in {**counts, "general": sizes[2]}.items() if n}
    counts["sid_to_text_skipped"] = skipped

    def chunks() -> Iterator[pa.Table]:
        for start in range(0, len(perm), chunk_rows):
            src = perm[start : start + chunk_rows]
            is_next, is_item = src < sizes[0], (src >= sizes[0]) & (src < sizes[0] + sizes[1])
            parts, tasks = [], []
            if is_next.any():
                parts.append(_next_sid(training, cat, src[is_next]))
                tasks += ["next_sid"] * int(is_next.sum())
            if is_item.any():
                picked = src[is_item] - sizes[0]
                parts.append(_item_chats(cat, item[picked], caption[picked]))
                tasks += np.where(caption[picked], "sid_to_text", "text_to_sid").tolist()
            rest = src[~is_next & ~is_item] - sizes[0] - sizes[1]
            if len(rest):
                parts.append(pa.array([general[g]["messages"] for g in rest.tolist()], MESSAGES))
                tasks += [general[g]["task"] for g in rest.tolist()]
            where = np.concatenate([np.flatnonzero(m) for m in (is_next, is_item, ~is_next & ~is_item)])
            back = np.empty(len(src), dtype=np.int64)
            back[where] = np.arange(len(src))  # chunk position -> row in the concatenated parts
            messages = pa.concat_arrays(parts).take(pa.array(back))
            yield pa.Table.from_arrays([messages, pa.array(tasks, pa.string()).take(pa.array(back))], schema=SFT_SCHEMA)

    return counts, chunks()


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
