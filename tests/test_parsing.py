"""The one answer parser: each row is an answer shape a policy can produce."""

from __future__ import annotations

import json

import pytest

from gr2_verl.parsing import MAX_ANSWER_CHARS, ParsedRanking, parse_ranking, repair

CANDS = ["A", "B", "C", "D"]


def js(ranking, **extra) -> str:
    return json.dumps({"reasoning": "because", "ranking": ranking, **extra})


CASES = [
    # (answer, expected status, expected order)
    (js(["B", "A", "D", "C"]), "ok", ("B", "A", "D", "C")),
    ("<think>weigh A vs B</think>\n" + js(["A", "B", "C", "D"]), "ok", ("A", "B", "C", "D")),  # thinking first
    ("```json\n" + js(["D", "C", "B", "A"]) + "\n```", "ok", ("D", "C", "B", "A")),  # code fence
    ("Final answer: " + js(["C", "A", "B", "D"]) + " Hope it helps!", "ok", ("C", "A", "B", "D")),  # text around
    (
        js(["A", "B", "C", "D"]) + "\nWait, revised: " + js(["B", "A", "C", "D"]),
        "ok",
        ("B", "A", "C", "D"),
    ),  # last wins
    (js(["B", "A", "C", "D"]) + ' then {"note": 1}', "ok", ("B", "A", "C", "D")),  # trailing object without ranking
    (js([" B ", "A", "C", "D"]), "ok", ("B", "A", "C", "D")),  # whitespace around ids
    (json.dumps({"ranking": ["B", "A", "C", "D"], "meta": {"x": [1, {"y": 2}]}}), "ok", ("B", "A", "C", "D")),  # nested
    ("I think B is best.", "no_json", ()),  # prose only
    ("<think>" + js(["A", "B", "C", "D"]), "no_json", ()),  # answer inside an unclosed thought
    ("<think>x</think>", "no_json", ()),  # nothing after thinking
    ('{"ranking": ["A", "B"', "no_json", ()),  # truncated JSON
    ("", "no_json", ()),
    (None, "no_json", ()),  # not a string at all
    (json.dumps({"answer": ["A", "B", "C", "D"]}), "bad_json", ()),  # wrong key
    (json.dumps({"ranking": "A,B,C,D"}), "bad_json", ()),  # ranking not a list
    (json.dumps({"ranking": [1, 2, 3, 4]}), "bad_json", ()),  # indices instead of ids
    (js([]), "empty", ()),
    (js(["A", "B", "C", "E"]), "unknown_id", ("A", "B", "C", "E")),  # foreign id
    (js(["A", "B", "C", "D", "E"]), "unknown_id", ("A", "B", "C", "D", "E")),  # 5 items, one foreign
    (js(["A", "A", "B", "C"]), "duplicate", ("A", "A", "B", "C")),  # duplicate, one omitted
    (js(["A", "B", "C", "D", "D"]), "duplicate", ("A", "B", "C", "D", "D")),  # K+1 items
    (js(["A", "B", "C"]), "missing", ("A", "B", "C")),  # K-1 items
]


@pytest.mark.parametrize("answer,status,order", CASES)
def test_parse_cases(answer, status, order):
    parsed = parse_ranking(answer, CANDS)
    assert parsed.status == status
    if status == "ok" or order:
        assert parsed.order == order
    assert parsed.valid == (status == "ok")


def test_top_level_list_wrapping_an_object_is_read_inside():
    # raw_decode starts at the first "{": the object inside the list is complete and counts
    assert parse_ranking(json.dumps([{"ranking": ["A", "B", "C", "D"]}]), CANDS).status == "ok"


def test_answer_longer_than_cap_is_read_from_its_tail():
    answer = "x" * (3 * MAX_ANSWER_CHARS) + js(["D", "C", "B", "A"])
    assert parse_ranking(answer, CANDS) == ParsedRanking(("D", "C", "B", "A"), "ok")


def test_deeply_nested_input_does_not_raise():
    assert parse_ranking('{"a":' * 5000 + "1" + "}" * 5000, CANDS).status == "bad_json"
    assert parse_ranking("[" * 100_000, CANDS).status == "no_json"


@pytest.mark.parametrize(
    "answer,expected",
    [
        (js(["C", "A", "B", "D"]), ("C", "A", "B", "D")),  # valid stays as is
        (js(["C", "C", "X"]), ("C", "A", "B", "D")),  # keep valid entries once, append the rest in input order
        ("garbage", ("A", "B", "C", "D")),  # unparseable falls back to the input order
    ],
)
def test_repair(answer, expected):
    assert repair(parse_ranking(answer, CANDS), CANDS) == expected
