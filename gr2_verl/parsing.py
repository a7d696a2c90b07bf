"""One parser for the reranker's answer; rewards and evaluation both read answers through it.

The answer format: optional ``<think>...</think>``, then a JSON object
``{"reasoning": "...", "ranking": [<candidate id>, ...]}``. Code fences and text around the JSON are
tolerated. When several JSON objects carry a ``ranking``, the last complete one counts. A ranking is
valid only when it is a permutation of the candidates.

Statuses, checked in this order:

- ``no_json``: no complete JSON object after the thinking block (or the thinking never closed);
- ``bad_json``: JSON found, but none is an object whose ``ranking`` is a list of strings;
- ``empty``: the ranking is an empty list;
- ``unknown_id``: an entry is not one of the candidates;
- ``duplicate``: a candidate appears twice;
- ``missing``: some candidates are left out;
- ``ok``: a permutation of the candidates.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

STATUSES = ("ok", "no_json", "bad_json", "empty", "unknown_id", "duplicate", "missing")
MAX_ANSWER_CHARS = 32_000  # 10 SIDs (~60 chars each) + a few thousand tokens of reasoning fit; bounds worst-case scans
_DECODER = json.JSONDecoder()


@dataclass(frozen=True)
class ParsedRanking:
    """The parsed answer: ``order`` holds the ranking entries as written (empty unless a list was found)."""

    order: tuple[str, ...]
    status: str

    @property
    def valid(self) -> bool:
        return self.status == "ok"


def answer_text(solution: str) -> str | None:
    """The part of a response that may hold the answer: after the last ``</think>``.

    None when a ``<think>`` block never closes (a truncated thought has no answer).
    """
    head, sep, tail = solution.rpartition("</think>")
    if sep:
        return tail
    if "<think>" in solution:
        return None
    return solution


def _json_objects(text: str) -> list[tuple[int, object]]:
    """Every top-level JSON value that starts with ``{`` and decodes completely, with its start offset."""
    found: list[tuple[int, object]] = []
    start = text.find("{")
    while start != -1:
        try:
            value, end = _DECODER.raw_decode(text, start)
        except (ValueError, RecursionError):  # RecursionError: pathologically nested input
            start = text.find("{", start + 1)
            continue
        found.append((start, value))
        start = text.find("{", end)
    return found


def _last_ranking_object(objects: Sequence[tuple[int, object]]) -> tuple[int, dict] | None:
    """The last object holding a ``ranking`` key: the one that counts as the answer."""
    return next(((start, obj) for start, obj in reversed(objects) if isinstance(obj, dict) and "ranking" in obj), None)


def ranking_object(text: str) -> tuple[int, dict] | None:
    """Start offset and value of the JSON object that counts as the answer in ``text``, else None.

    The same scan and "last object with a ranking" rule as ``extract_ranking``, for code that rewrites
    answers (SFT traces) and must keep exactly what the rewards read.

    >>> ranking_object('draft {"ranking": ["a"]} final {"ranking": ["b"]}')
    (31, {'ranking': ['b']})
    """
    return _last_ranking_object(_json_objects(text))


def extract_ranking(solution: object) -> tuple[str, list[str]]:
    """Find the ``ranking`` list of the last JSON object that has one.

    Returns ``("ok", ranking)``, ``("no_json", [])`` when no JSON object is found, or
    ``("bad_json", [])`` when JSON is found but no object holds a list of strings under ``ranking``.
    """
    if not isinstance(solution, str):
        return "no_json", []
    text = answer_text(solution[-MAX_ANSWER_CHARS:])
    objects = _json_objects(text) if text is not None else []
    if not objects:
        return "no_json", []
    found = _last_ranking_object(objects)
    if found is None:
        return "bad_json", []
    ranking = found[1]["ranking"]
    if isinstance(ranking, list) and all(isinstance(r, str) for r in ranking):
        return "ok", [r.strip() for r in ranking]
    return "bad_json", []


def parse_ranking(solution: object, candidates: Sequence[str]) -> ParsedRanking:
    """Parse a model answer against the candidate ids (input order) into a ``ParsedRanking``.

    Never raises on any ``solution``; non-strings parse as ``no_json``.

    >>> parse_ranking('{"ranking": ["b", "a"]}', ["a", "b"])
    ParsedRanking(order=('b', 'a'), status='ok')
    >>> parse_ranking('<think>hmm</think> {"ranking": ["b", "b"]}', ["a", "b"]).status
    'duplicate'
    """
    status, ranking = extract_ranking(solution)
    if status != "ok":
        return ParsedRanking((), status)
    order = tuple(ranking)
    if not order:
        return ParsedRanking(order, "empty")
    allowed = set(candidates)
    if not allowed.issuperset(order):
        return ParsedRanking(order, "unknown_id")
    if len(set(order)) != len(order):
        return ParsedRanking(order, "duplicate")
    if len(order) != len(allowed):
        return ParsedRanking(order, "missing")
    return ParsedRanking(order, "ok")


def repair(parsed: ParsedRanking, candidates: Sequence[str]) -> tuple[str, ...]:
    """Evaluation's fallback order: keep the valid entries once, append the rest in input order.

    An unparseable answer therefore becomes the input order, as in the paper. Rewards never score this.
    """
    allowed = set(candidates)
    seen: dict[str, None] = {}
    for item in parsed.order:
        if item in allowed and item not in seen:
            seen[item] = None
    for item in candidates:
        if item not in seen:
            seen[item] = None
    return tuple(seen)
