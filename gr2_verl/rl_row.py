"""The veRL RL row: its parquet schema, the one way to build a record and the one reader.

Every RL parquet in gr2-verl has these columns (``RL_SCHEMA``), which is what veRL's ``RLHFDataset``
and reward loop read:

- ``data_source``: ``"gr2/<dataset>"``.
- ``prompt``: the chat messages the policy sees, ``[system, user]`` (``gr2_verl.prompts.build_messages``).
- ``ability``: ``"rerank"``.
- ``reward_model``: ``{"style": "rule", "ground_truth": GroundTruth JSON}``, the candidates' SIDs in TRUE
  pre-rank order even when the prompt shows them shuffled (``gr2_verl.types.GroundTruth``).
- ``extra_info``: ``split``, ``index`` (row number in its file, unique), ``sample_id`` (unique),
  ``user_id``, ``target_in_candidates``, ``target_in_pos`` (1-based, 0 = pre-ranker miss),
  ``shown_order`` (``shown_order[i]`` = pre-rank index of the candidate shown in prompt slot i),
  ``candidate_item_ids``, ``candidate_popularity`` (pre-rank order).

Writers (``data_prep.rl_parquet``, ``gr2_verl.lab.synthetic``) build records with ``rl_record`` and write
them with ``write_rl_parquet``; readers (evaluation, lab, traces, ``gr2 validate``) use ``read_rl_rows`` or
``parse_rl_record`` and never check columns of their own, so a file one tool accepts, all accept.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from gr2_verl.io import read_parquet, write_parquet
from gr2_verl.types import GroundTruth, parse_ground_truth

MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
EXTRA_INFO = pa.struct(
    [
        ("split", pa.string()),
        ("index", pa.int64()),
        ("sample_id", pa.string()),
        ("user_id", pa.string()),
        ("target_in_candidates", pa.bool_()),
        ("target_in_pos", pa.int64()),
        ("shown_order", pa.list_(pa.int64())),
        ("candidate_item_ids", pa.list_(pa.string())),
        ("candidate_popularity", pa.list_(pa.int64())),
    ]
)
RL_SCHEMA = pa.schema(
    [
        ("data_source", pa.string()),
        ("prompt", MESSAGES),
        ("ability", pa.string()),
        ("reward_model", pa.struct([("style", pa.string()), ("ground_truth", pa.string())])),
        ("extra_info", EXTRA_INFO),
    ]
)
RL_COLUMNS = tuple(RL_SCHEMA.names)
PROMPT_ROLES = ["system", "user"]  # what build_messages writes and the trace teacher expects


def rl_record(
    data_source: str, messages: Sequence[Mapping[str, str]], truth: GroundTruth, extra_info: Mapping[str, Any]
) -> dict[str, Any]:
    """One RL record (a dict in ``RL_SCHEMA``'s shape) from its parts."""
    return {
        "data_source": data_source,
        "prompt": [dict(m) for m in messages],
        "ability": "rerank",
        "reward_model": {"style": "rule", "ground_truth": truth.to_json()},
        "extra_info": dict(extra_info),
    }


def write_rl_parquet(records: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    """Write RL records atomically with ``RL_SCHEMA`` (same records -> same bytes)."""
    return write_parquet([dict(r) for r in records], RL_SCHEMA, path)


@dataclass(frozen=True)
class RLRow:
    """One checked RL row, as evaluation, the lab and the trace sampler need it.

    ``index`` is ``extra_info.index`` (the row number when absent); ``key`` is ``extra_info.sample_id``
    (``row<N>`` when absent); ``popularity`` is per candidate in pre-rank order (None when absent).
    """

    index: int
    key: str
    data_source: str
    prompt: list[dict[str, str]]
    ground_truth: str
    truth: GroundTruth
    shown_order: tuple[int, ...]
    popularity: tuple[int, ...] | None
    extra_info: dict[str, Any]

    @property
    def target_in_list(self) -> bool:
        """The (first) target is among the candidates: False for a pre-ranker miss."""
        return self.truth.targets[0] in self.truth.candidates

    @property
    def shown_candidates(self) -> tuple[str, ...]:
        """The candidates in the order the prompt shows them."""
        return tuple(self.truth.candidates[i] for i in self.shown_order)


def parse_rl_record(record: Mapping[str, Any], where: str, row_number: int) -> RLRow:
    """Check one RL record and return it as an ``RLRow``; ValueError names ``where`` and the field."""
    prompt = record.get("prompt")
    if (
        not isinstance(prompt, Sequence)
        or not all(isinstance(m, Mapping) and isinstance(m.get("content"), str) for m in prompt)
        or [m.get("role") for m in prompt] != PROMPT_ROLES
    ):
        raise ValueError(f"{where}: field 'prompt' must be {PROMPT_ROLES} chat messages with string content")
    reward_model = record.get("reward_model")
    if not isinstance(reward_model, Mapping) or "ground_truth" not in reward_model:
        raise ValueError(f"{where}: field 'reward_model.ground_truth' is missing")
    gt = reward_model["ground_truth"]
    try:
        truth = parse_ground_truth(gt)
    except ValueError as e:
        raise ValueError(f"{where}: field 'reward_model.ground_truth': {e}") from None
    extra = dict(record.get("extra_info") or {})
    k = truth.k
    shown = extra.get("shown_order")
    shown_order = tuple(range(k)) if shown is None else tuple(int(i) for i in shown)
    if sorted(shown_order) != list(range(k)):
        raise ValueError(f"{where}: field 'extra_info.shown_order' is not a permutation of 0..{k - 1}")
    pop = extra.get("candidate_popularity")
    popularity = None if pop is None else tuple(int(p) for p in pop)
    if popularity is not None and len(popularity) != k:
        n = len(popularity)
        raise ValueError(f"{where}: field 'extra_info.candidate_popularity' has {n} entries; the ground truth has {k}")
    _check_agreement(truth, extra, where)
    index = extra.get("index")
    return RLRow(
        index=row_number if index is None else int(index),
        key=str(extra.get("sample_id") or f"row{row_number}"),
        data_source=str(record.get("data_source") or ""),
        prompt=[{"role": m["role"], "content": m["content"]} for m in prompt],
        ground_truth=gt if isinstance(gt, str) else truth.to_json(),
        truth=truth,
        shown_order=shown_order,
        popularity=popularity,
        extra_info=extra,
    )


def _check_agreement(truth: GroundTruth, extra: Mapping[str, Any], where: str) -> None:
    """ValueError where ``extra_info`` contradicts the ground truth (its K-long lists, the target flags).

    Evaluation takes positions and popularity from ``extra_info``; a row whose two halves disagree would
    score the wrong candidate without any error downstream.
    """
    ids = extra.get("candidate_item_ids")
    if ids is not None and len(ids) != truth.k:
        n, k = len(ids), truth.k
        raise ValueError(f"{where}: field 'extra_info.candidate_item_ids' has {n} entries, the ground truth {k} items")
    position = truth.candidates.index(truth.targets[0]) + 1 if truth.targets[0] in truth.candidates else 0
    flag = extra.get("target_in_candidates")
    if flag is not None and bool(flag) != (position > 0):
        where_target = f"at position {position}" if position else "not among its candidates"
        raise ValueError(
            f"{where}: field 'extra_info.target_in_candidates' is {bool(flag)} but the ground truth's first target "
            f"is {where_target}"
        )
    pos = extra.get("target_in_pos")
    if pos is not None and int(pos) != position:
        raise ValueError(
            f"{where}: field 'extra_info.target_in_pos' is {pos}; the ground truth's first target is at {position}"
        )


def rl_records(table: pa.Table, path: str | Path) -> list[dict[str, Any]]:
    """The records of an RL table read from ``path``; ValueError when it lacks a column of ``RL_SCHEMA``."""
    missing = [c for c in RL_COLUMNS if c not in table.column_names]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}")
    return table.select(list(RL_COLUMNS)).to_pylist()


def duplicate_error(row: RLRow, seen: dict[Any, int], where: str, i: int) -> str | None:
    """The error for a row whose ``extra_info.index`` or ``sample_id`` repeats an earlier row's, else None.

    ``seen`` maps ``("index", n)`` and ``("key", id)`` to the first row holding them; it is updated.
    """
    if ("index", row.index) in seen:
        return f"{where}: field 'extra_info.index' = {row.index} repeats row {seen['index', row.index]}"
    if ("key", row.key) in seen:
        return f"{where}: field 'extra_info.sample_id' repeats '{row.key}' (first at row {seen['key', row.key]})"
    seen["index", row.index] = i
    seen["key", row.key] = i
    return None


def read_rl_rows(path: str | Path) -> list[RLRow]:
    """Read and check an RL parquet; the first bad row raises ValueError naming file, row and field."""
    rows: list[RLRow] = []
    seen: dict[Any, int] = {}
    for i, record in enumerate(rl_records(read_parquet(path), path)):
        where = f"{path}: row {i}"
        row = parse_rl_record(record, where, i)
        error = duplicate_error(row, seen, where, i)
        if error:
            raise ValueError(error)
        rows.append(row)
    return rows
