"""Every variant, any string: never raises, same keys and types, score within its bounds.

Also: rewards pickle (veRL ships them to worker processes) and run from many threads at once.
"""

from __future__ import annotations

import json
import pickle
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reward_fns import VARIANTS

CANDS = [f"<|sid_begin|><s_a_{i}><s_b_{i * 7 % 256}><s_c_0><s_d_1><|sid_end|>" for i in range(10)]
GT = json.dumps({"candidates": CANDS, "targets": [CANDS[4]]})
BOUNDS = {  # (min, max) with default kwargs (alpha 0.2, invalid -1)
    "conditional_format": (-1.0, 1.1),
    "naive_format": (-1.0, 1.1),
    "rank_promotion": (-1.0, 0.9),
    "identity_gated": (-1.0, 1.2),
    "listwise_ndcg": (-1.0, 1.2),
}
KEY_TYPES = {
    "score": float,
    "acc": float,
    "pred": str,
    "valid": float,
    "status": str,
    "r_rank": float,
    "target_in_pos": int,
    "target_out_pos": int,
    "is_identity": float,
    "kendall_tau": float,
    "top1_in_pos": int,
}

# answers built from the candidate ids, so the strategies reach the interesting statuses
sid = st.sampled_from(CANDS + ["<|sid_begin|><s_a_300><s_b_0><s_c_0><s_d_1><|sid_end|>", "", "1"])
ranking_json = st.lists(sid, max_size=14).map(lambda r: json.dumps({"reasoning": "x", "ranking": r}))
noise = st.text(max_size=200)
answers = st.one_of(
    noise,
    ranking_json,
    st.tuples(noise, ranking_json, noise).map("".join),  # text around the JSON
    st.tuples(noise, ranking_json).map(lambda t: "<think>" + t[0] + "</think>" + t[1]),
    ranking_json.map(lambda s: s[: len(s) // 2]),  # truncated JSON
    st.permutations(CANDS).map(lambda p: json.dumps({"reasoning": "ok", "ranking": p})),  # valid permutations
)


def check(name: str, out: dict) -> None:
    assert set(out) == set(KEY_TYPES), name
    for key, typ in KEY_TYPES.items():
        assert type(out[key]) is typ, (name, key)
    low, high = BOUNDS[name]
    assert low - 1e-9 <= out["score"] <= high + 1e-9, (name, out)
    assert 0.0 <= out["valid"] <= 1.0 and -1.0 <= out["kendall_tau"] <= 1.0


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers)
def test_any_answer_is_scored_within_bounds(text):
    for name, fn in VARIANTS.items():
        check(name, fn("gr2/test", text, GT))


@pytest.mark.parametrize(
    "text",
    [
        "{" * 50_000,  # a wall of braces
        '{"ranking": [' * 3000,  # deeply nested, unclosed
        '{"a":' * 5000 + "1" + "}" * 5000,  # deeper than the JSON decoder's recursion limit
        "x" * 2_000_000 + json.dumps({"ranking": CANDS}),  # huge answer, valid tail
        json.dumps({"ranking": CANDS}, ensure_ascii=False).replace("s_a", "ѕ_a"),  # homoglyph SIDs
        "\x00\ud800" + json.dumps({"ranking": CANDS}),  # NUL and a lone surrogate
        json.dumps({"ranking": [{"sid": c} for c in CANDS]}),  # objects instead of ids
        json.dumps({"ranking": CANDS * 100}),  # 1000 items
    ],
)
def test_adversarial_answers(text):
    for name, fn in VARIANTS.items():
        check(name, fn("gr2/test", text, GT))


def test_same_keys_on_valid_and_invalid_paths():
    valid = json.dumps({"ranking": CANDS})
    for name, fn in VARIANTS.items():
        assert fn("d", valid, GT).keys() == fn("d", "nothing", GT).keys() == fn("d", valid[:-5], GT).keys(), name


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_rewards_pickle(name):
    fn = pickle.loads(pickle.dumps(VARIANTS[name]))
    assert fn("d", json.dumps({"ranking": CANDS}), GT) == VARIANTS[name]("d", json.dumps({"ranking": CANDS}), GT)


def test_rewards_are_thread_safe():
    texts = [json.dumps({"ranking": CANDS[i:] + CANDS[:i]}) for i in range(10)] * 50
    expected = [VARIANTS["conditional_format"]("d", t, GT) for t in texts]
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda t: VARIANTS["conditional_format"]("d", t, GT), texts))
    assert got == expected
