"""The prompt builder: message shape, shuffling bookkeeping, SID collisions, parseable answer format."""

from __future__ import annotations

import json
import random
import re

import pytest

from gr2_verl.outcome import judge
from gr2_verl.prompts import SidCollisionError, build_messages, candidate_sids
from gr2_verl.types import GroundTruth, Item, RerankSample, SidMap

SID_RE = re.compile(r"<\|sid_begin\|>(?:<s_[a-h]_\d+>)+<\|sid_end\|>")


def _world(n_items: int = 40) -> tuple[dict[str, Item], SidMap]:
    genres = ("Drama", "Comedy")
    items = {str(i): Item(str(i), f"Movie {i} (199{i % 10})", genres if i % 2 else ()) for i in range(n_items)}
    sid_map = SidMap(levels=3, codebook_size=8, codes={str(i): (i // 16, (i // 4) % 4, i % 4) for i in range(n_items)})
    return items, sid_map


def _sample(candidates: list[str] | None = None, target: str = "12") -> RerankSample:
    return RerankSample(
        sample_id="u1:7",
        user_id="u1",
        split="test",
        history=[str(i) for i in range(20, 40)],
        candidates=candidates or [str(i) for i in range(10, 20)],
        targets=[target],
    )


def test_messages_show_history_and_every_candidate_once():
    items, sid_map = _world()
    sample = _sample()
    messages, shown = build_messages(sample, items, sid_map)
    assert [m["role"] for m in messages] == ["system", "user"]
    assert shown == list(range(10))
    user = messages[1]["content"]
    for c in sample.candidates:
        assert user.count(sid_map.sid(c)) == 1
    for h in sample.history:
        assert f"{sid_map.sid(h)} {items[h].text()}" in user
    # history oldest first, numbered
    assert user.index(sid_map.sid("20")) < user.index(sid_map.sid("39"))
    assert '"ranking"' in user and '"reasoning"' in user


def test_shuffled_prompt_keeps_true_order_in_shown_order():
    items, sid_map = _world()
    sample = _sample()
    messages, shown = build_messages(sample, items, sid_map, shuffle_rng=random.Random(3))
    assert sorted(shown) == list(range(10)) and shown != list(range(10))
    block = messages[1]["content"].split("Candidates to re-rank")[1]
    in_prompt = SID_RE.findall(block)[:10]
    assert in_prompt == [sid_map.sid(sample.candidates[i]) for i in shown]


def test_same_seed_same_prompt():
    items, sid_map = _world()
    a = build_messages(_sample(), items, sid_map, shuffle_rng=random.Random(7), hints="Sequels follow originals.")
    b = build_messages(_sample(), items, sid_map, shuffle_rng=random.Random(7), hints="Sequels follow originals.")
    assert a == b
    assert "Domain hints:\nSequels follow originals." in a[0][1]["content"]


def test_copying_the_prompt_candidates_is_a_valid_answer():
    """The answer format the prompt asks for is the one the reward parser reads."""
    items, sid_map = _world()
    sample = _sample()
    sids = candidate_sids(sample, sid_map)
    messages, shown = build_messages(sample, items, sid_map, shuffle_rng=random.Random(1))
    truth = GroundTruth(candidates=tuple(sids), targets=(sid_map.sid("12"),)).to_json()
    block = messages[1]["content"].split("Candidates to re-rank")[1]
    answer = json.dumps({"reasoning": "as shown", "ranking": SID_RE.findall(block)[:10]})
    outcome = judge(f"<think>ok</think>{answer}", truth)
    assert outcome.valid
    assert outcome.target_in_pos == 3


@pytest.mark.parametrize(
    "codes, target",
    [
        ({"10": (0, 0, 0), "11": (0, 0, 0)}, "12"),  # two candidates share a SID
        ({"5": (0, 2, 2)}, "5"),  # missed target "5" has candidate "10"'s SID (0, 2, 2)
    ],
)
def test_sid_collisions_are_refused(codes, target):
    items, sid_map = _world()
    sid_map.codes.update(codes)
    with pytest.raises(SidCollisionError):
        build_messages(_sample(target=target), items, sid_map)


def test_unknown_item_is_named():
    items, sid_map = _world()
    del items["13"]
    with pytest.raises(KeyError, match="'13'"):
        build_messages(_sample(), items, sid_map)
