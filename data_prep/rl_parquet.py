"""Reranking samples -> veRL RL rows (schema: ``gr2_verl.rl_row``), built a chunk of samples at a time.

Which samples become rows: by default only those whose target is among the candidates (GR2's
setting); ``keep_all`` also keeps misses (``target_in_candidates`` false) so end-to-end metrics can
count them. A sample whose candidates share a SID (or whose missed target shares a candidate's SID) is
always dropped (its ground truth would be ambiguous) and counted as ``sid_collision``.

Rows are built with arrow string kernels over item strings made once per item (``Catalogue``): no
Python loop per sample except candidate shuffling (one ``random.Random(f"{seed}:{sample_id}")`` each,
so a row's prompt does not depend on which other samples are written) and labelled grades.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from data_prep.interactions import SPLITS
from data_prep.sample_table import SampleTable
from gr2_verl.prompts import SYSTEM_PROMPT, user_contents
from gr2_verl.rl_row import EXTRA_INFO, MESSAGES, RL_SCHEMA
from gr2_verl.types import Item, SidMap


@dataclass(frozen=True)
class Catalogue:
    """Per-item strings and numbers in catalogue order; ``code`` maps a table's item codes onto it."""

    ids: pa.Array  # item ids
    sids: pa.Array  # SID strings
    texts: pa.Array  # Item.text()
    rendered: pa.Array  # "SID text", as prompts show an item
    sid_group: np.ndarray  # int64, equal for items sharing a SID
    popularity: np.ndarray  # int64 training interactions
    code: np.ndarray  # int64, table item code -> catalogue index


def catalogue(
    items: Mapping[str, Item], sid_map: SidMap, popularity: Mapping[str, int], item_ids: np.ndarray
) -> Catalogue:
    """The catalogue's strings, once per item (``items`` order); ``item_ids`` (what the samples' codes index) must
    all be in ``items``."""
    ids = list(items)
    sids = [sid_map.sid(i) for i in ids]
    position = {x: n for n, x in enumerate(ids)}
    texts = [item.text() for item in items.values()]
    return Catalogue(
        ids=pa.array(ids, pa.string()),
        sids=pa.array(sids, pa.string()),
        texts=pa.array(texts, pa.string()),
        rendered=pa.array([f"{s} {x}" for s, x in zip(sids, texts, strict=True)], pa.string()),
        sid_group=np.unique(np.array(sids, dtype=object), return_inverse=True)[1].astype(np.int64).ravel(),
        popularity=np.array([int(popularity.get(i, 0)) for i in ids], dtype=np.int64),
        code=np.array([position[x] for x in item_ids.tolist()], dtype=np.int64),
    )


def list_array(flat: pa.Array, lengths: np.ndarray) -> pa.ListArray:
    """Consecutive runs of ``flat`` as one list per row."""
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), flat)


def chat_pairs(role_a: str, a: pa.Array, role_b: str, b: pa.Array) -> pa.ListArray:
    """Two-message chats ``[{role_a: a[i]}, {role_b: b[i]}]`` (the ``MESSAGES`` type), one per row."""
    n = len(a)
    contents = pa.concat_arrays([a, b]).take(pa.array(np.stack([np.arange(n), np.arange(n, 2 * n)], 1).ravel()))
    roles = pa.array([role_a, role_b]).take(pa.array(np.tile([0, 1], n)))
    struct = pa.StructArray.from_arrays([roles, contents], fields=list(MESSAGES.value_type))
    return pa.ListArray.from_arrays(pa.array(np.arange(0, 2 * n + 1, 2, dtype=np.int32)), struct)


def ambiguous(table: SampleTable, cat: Catalogue, rows: np.ndarray) -> np.ndarray:
    """Per chosen row: two candidates share a SID, or a target outside the candidates has a candidate's SID."""
    cands = cat.code[table.candidates[rows]]
    groups = np.sort(cat.sid_group[cands], axis=1)
    out = (groups[:, 1:] == groups[:, :-1]).any(axis=1)
    targets = table.targets.take(rows)
    owner, _ = targets.owners()
    t = cat.code[targets.flat()]
    outside = ~(cands[owner] == t[:, None]).any(axis=1)
    shares = (cat.sid_group[cands[owner]] == cat.sid_group[t][:, None]).any(axis=1)
    np.logical_or.at(out, owner, outside & shares)
    return out


def rl_table(
    table: SampleTable,
    cat: Catalogue,
    rows: np.ndarray,
    index: np.ndarray,
    *,
    dataset: str,
    seed: int = 0,
    shuffle: bool = False,
    hints: str | None = None,
) -> pa.Table:
    """RL rows (``RL_SCHEMA``) of the table rows ``rows``; ``index`` = each row's number in its split file."""
    n, k = len(rows), table.candidates.shape[1]
    cands = cat.code[table.candidates[rows]]
    sample_ids = table.sample_ids.take(pa.array(rows))
    shown_order = np.tile(np.arange(k), (n, 1))
    if shuffle:
        for r, sample_id in enumerate(sample_ids.to_pylist()):
            random.Random(f"{seed}:{sample_id}").shuffle(order := list(range(k)))
            shown_order[r] = order
    hist = table.histories.take(rows)
    history = list_array(cat.rendered.take(pa.array(cat.code[hist.flat()])), hist.lengths)
    shown = np.take_along_axis(cands, shown_order, axis=1)
    shown_list = list_array(cat.rendered.take(pa.array(shown.ravel())), np.full(n, k))
    users = user_contents(history, shown_list, hints=hints)
    messages = chat_pairs("system", pa.array([SYSTEM_PROMPT] * n), "user", users)
    tpos = table.target_positions(rows)
    quoted = pc.binary_join_element_wise('"', cat.sids, '"', "")
    targets = table.targets.take(rows)
    truth = pc.binary_join_element_wise(
        '{"candidates": [',
        pc.binary_join(list_array(quoted.take(pa.array(cands.ravel())), np.full(n, k)), ", "),
        '], "targets": [',
        pc.binary_join(list_array(quoted.take(pa.array(cat.code[targets.flat()])), targets.lengths), ", "),
        _grades_json(table, rows),
        "",
    )
    extra = pa.StructArray.from_arrays(
        [
            pa.array(np.array(SPLITS, dtype=object)[table.splits[rows]], pa.string()),
            pa.array(index, pa.int64()),
            sample_ids,
            table.user_ids.take(pa.array(rows)),
            pa.array(tpos > 0),
            pa.array(tpos, pa.int64()),
            list_array(pa.array(shown_order.ravel(), pa.int64()), np.full(n, k)),
            list_array(cat.ids.take(pa.array(cands.ravel())), np.full(n, k)),
            list_array(pa.array(cat.popularity[cands.ravel()], pa.int64()), np.full(n, k)),
        ],
        fields=list(EXTRA_INFO),
    )
    reward = pa.StructArray.from_arrays(
        [pa.array(["rule"] * n, pa.string()), truth], fields=list(RL_SCHEMA.field("reward_model").type)
    )
    columns = [pa.array([f"gr2/{dataset}"] * n), messages, pa.array(["rerank"] * n), reward, extra]
    return pa.Table.from_arrays(columns, schema=RL_SCHEMA)


def _grades_json(table: SampleTable, rows: np.ndarray) -> str | pa.Array:
    """The ground truth's tail per row: ``]}`` or ``], "grades": [...]}`` for labelled samples."""
    if not table.grades:
        return "]}"
    grades = table.grades
    tails = [f"], \"grades\": {json.dumps(list(grades[r]))}}}" if r in grades else "]}" for r in rows.tolist()]
    return pa.array(tails, pa.string())
