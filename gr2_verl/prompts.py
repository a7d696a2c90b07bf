"""The reranking prompt: system + user chat messages built from one ``RerankSample``.

Every RL row's ``prompt`` column comes from ``build_messages``; traces, eval and recipes read that
column rather than calling this module. The user message shows the history (oldest first) and all K
candidates together, each item as ``SID title | categories``, and asks for reasoning followed by
``{"reasoning": "...", "ranking": [SIDs]}``, exactly what ``gr2_verl.parsing`` reads.

Candidate shuffling: with ``shuffle_rng`` the prompt shows the candidates in a random order (to fight
position bias) while the ground truth keeps the pre-rank order. ``shown_order[i]`` is the pre-rank
index of the candidate in prompt slot ``i``; without shuffling it is ``0..K-1``.

``user_contents`` builds the same user message for millions of samples at once (arrow string kernels, no
Python loop per sample); ``build_messages`` is the one-sample form and the reference it is tested against.

Hazard: two candidates with the same SID make the answer ambiguous, so ``build_messages`` raises
``SidCollisionError`` for them (``candidate_sids`` checks without building).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gr2_verl.types import Item, RerankSample, SidMap

SYSTEM_PROMPT = (
    "You are an expert recommender-systems analyst. You study a user's interaction history, infer "
    "their current interests and how they evolve, and re-rank a short list of candidate items so that "
    "the item the user is most likely to interact with next comes first. Items are named by semantic "
    "IDs (SIDs) such as <|sid_begin|><s_a_1><s_b_2><s_c_3><s_d_4><|sid_end|>; cite items by their SID."
)

ANSWER_INSTRUCTIONS = (
    "Think step by step: summarise the user's interests from the history (recent items matter most), "
    "judge how well each candidate fits, then decide the order. Finish with one JSON object and nothing "
    'after it: {"reasoning": "<a short summary of your reasoning>", "ranking": [<every candidate SID '
    "exactly once, as a JSON string, most likely next item first>]}"
)


CANDIDATES_HEADER = "Candidates to re-rank"  # opens the candidate block of the user message


class SidCollisionError(ValueError):
    """Two candidates of one sample share a SID (or a missed target shares a candidate's SID)."""


def render_item(item_id: str, items: Mapping[str, Item], sid_map: SidMap) -> str:
    """One prompt line body: ``SID title | categories``; KeyError names an item without metadata or SID."""
    if item_id not in items:
        raise KeyError(f"item '{item_id}' has no metadata (title, categories)")
    return f"{sid_map.sid(item_id)} {items[item_id].text()}"


def candidate_sids(sample: RerankSample, sid_map: SidMap) -> list[str]:
    """SIDs of the candidates in pre-rank order; SidCollisionError when the ground truth would be ambiguous.

    Ambiguous: two candidates share a SID, or a target outside the candidates has a candidate's SID
    (the ground truth would then name that candidate as the positive).
    """
    sids = [sid_map.sid(c) for c in sample.candidates]
    if len(set(sids)) != len(sids):
        raise SidCollisionError(f"sample '{sample.sample_id}': two candidates share a SID")
    for target in sample.targets:
        if target not in sample.candidates and sid_map.sid(target) in sids:
            raise SidCollisionError(f"sample '{sample.sample_id}': target '{target}' shares a candidate's SID")
    return sids


def build_messages(
    sample: RerankSample,
    items: Mapping[str, Item],
    sid_map: SidMap,
    *,
    shuffle_rng: random.Random | None = None,
    hints: str | None = None,
) -> tuple[list[dict[str, str]], list[int]]:
    """The system + user messages for one sample, and ``shown_order`` (prompt slot -> pre-rank index)."""
    candidate_sids(sample, sid_map)
    shown_order = list(range(len(sample.candidates)))
    if shuffle_rng is not None:
        shuffle_rng.shuffle(shown_order)
    history = _numbered(sample.history, items, sid_map)
    shown = [sample.candidates[i] for i in shown_order]
    parts = [
        f"The user's history, oldest first ({len(sample.history)} items):",
        history,
        "",
        f"{CANDIDATES_HEADER} ({len(shown)} items):",
        _bulleted(shown, items, sid_map),
    ]
    if hints:
        parts += ["", "Domain hints:", hints.strip()]
    parts += ["", ANSWER_INSTRUCTIONS]
    messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": "\n".join(parts)}]
    return messages, shown_order


def _numbered(item_ids: Sequence[str], items: Mapping[str, Item], sid_map: SidMap) -> str:
    return "\n".join(f"{n}. {render_item(i, items, sid_map)}" for n, i in enumerate(item_ids, 1))


def _bulleted(item_ids: Sequence[str], items: Mapping[str, Item], sid_map: SidMap) -> str:
    return "\n".join(f"- {render_item(i, items, sid_map)}" for i in item_ids)


def user_contents(history: pa.ListArray, shown: pa.ListArray, *, hints: str | None = None) -> pa.Array:
    """``build_messages``' user message (the same text) for many samples at once.

    ``history`` (oldest first) and ``shown`` (prompt order) are list arrays of ``render_item`` strings, one
    list per sample.
    """
    lines = history.flatten()
    offsets = np.asarray(history.offsets)
    parent = np.asarray(pc.list_parent_indices(history))
    number = pc.cast(pa.array(np.arange(len(lines)) - offsets[parent] + 1), pa.string())
    numbered = pa.ListArray.from_arrays(history.offsets, pc.binary_join_element_wise(number, ". ", lines, ""))
    bulleted = pa.ListArray.from_arrays(shown.offsets, pc.binary_join_element_wise("- ", shown.flatten(), ""))
    n_history = pc.cast(pc.list_value_length(history), pa.string())
    n_shown = pc.cast(pc.list_value_length(shown), pa.string())
    tail = (f"\n\nDomain hints:\n{hints.strip()}" if hints else "") + f"\n\n{ANSWER_INSTRUCTIONS}"
    parts = ["The user's history, oldest first (", n_history, " items):\n", pc.binary_join(numbered, "\n")]
    parts += ["\n\nCandidates to re-rank (", n_shown, " items):\n", pc.binary_join(bulleted, "\n"), tail]
    return pc.binary_join_element_wise(*parts, "")
