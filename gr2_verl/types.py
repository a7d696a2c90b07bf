"""The shared data shapes of gr2-verl: items, reranking samples, the SID map, the reward ground truth.

Everything else imports these; nothing else defines them. Data flows one way:
raw logs -> ``RerankSample`` (item ids) -> ``GroundTruth`` (SID strings, inside each veRL row)
-> reward functions and evaluation.

The ground truth stored in ``reward_model.ground_truth`` of every veRL RL row is a JSON string::

    {"candidates": ["<|sid_begin|>...<|sid_end|>", ...],   # K candidate ids, input (pre-rank) order
     "targets": ["<|sid_begin|>...<|sid_end|>"],           # positives; one on public datasets
     "grades": [0, 0, 1, ...]}                              # optional graded label per candidate

Candidates must be distinct. Targets are usually among the candidates; a target outside them marks a
pre-ranker miss (kept only for end-to-end evaluation) and earns no ranking reward.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

SID_BEGIN = "<|sid_begin|>"
SID_END = "<|sid_end|>"
LEVEL_NAMES = "abcdefgh"  # level prefix letters: <s_a_..>, <s_b_..>, ...; 8 levels is far past any RQ-VAE in use


def sid_code_token(level: int, code: int) -> str:
    """The vocabulary token for one code of one level, e.g. ``(0, 97) -> "<s_a_97>"``."""
    return f"<s_{LEVEL_NAMES[level]}_{code}>"


def sid_string(codes: Sequence[int]) -> str:
    """A full SID as written in prompts and answers.

    >>> sid_string([97, 168, 137, 135])
    '<|sid_begin|><s_a_97><s_b_168><s_c_137><s_d_135><|sid_end|>'
    """
    return SID_BEGIN + "".join(sid_code_token(level, int(c)) for level, c in enumerate(codes)) + SID_END


@dataclass(frozen=True)
class Item:
    """One catalogue item as the reranker sees it: id, title and category path."""

    item_id: str
    title: str
    categories: tuple[str, ...] = ()

    def text(self) -> str:
        """The item as prompts, SID fitting and SFT captioning see it: ``title | cat, cat``.

        >>> Item("1", "Toy Story (1995)", ("Animation", "Comedy")).text()
        'Toy Story (1995) | Animation, Comedy'
        >>> Item("2", "Untitled").text()
        'Untitled'
        """
        return f"{self.title} | {', '.join(self.categories)}" if self.categories else self.title


@dataclass
class RerankSample:
    """One reranking problem: a user's history, K pre-ranked candidates and the positive(s).

    All ids are catalogue item ids (not SIDs). ``history`` is oldest first; ``candidates`` is the
    pre-ranker's order (the "input order"). ``targets`` holds one item on public datasets.
    """

    sample_id: str
    user_id: str
    split: str  # "train" | "val" | "test"
    history: list[str]
    candidates: list[str]
    targets: list[str]
    grades: list[float] | None = None

    @property
    def target_position(self) -> int:
        """1-based pre-rank position of the first target, 0 when the pre-ranker missed it."""
        try:
            return self.candidates.index(self.targets[0]) + 1
        except ValueError:
            return 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "sample_id": self.sample_id,
            "user_id": self.user_id,
            "split": self.split,
            "history": list(self.history),
            "candidates": list(self.candidates),
            "targets": list(self.targets),
            "grades": None if self.grades is None else list(self.grades),
        }

    @classmethod
    def from_dict(cls, row: Mapping[str, Any], where: str = "sample") -> RerankSample:
        """Build from a JSON/parquet row; ``where`` names the file and row in errors."""
        for key in ("sample_id", "user_id", "split", "history", "candidates", "targets"):
            if key not in row:
                raise ValueError(f"{where}: missing field '{key}'")
        candidates = [str(c) for c in row["candidates"]]
        if len(set(candidates)) != len(candidates):
            raise ValueError(f"{where}: field 'candidates' has duplicates")
        if len(row["targets"]) == 0:
            raise ValueError(f"{where}: field 'targets' is empty")
        grades = row.get("grades")
        if grades is not None and len(grades) != len(candidates):
            raise ValueError(f"{where}: field 'grades' has {len(grades)} values for {len(candidates)} candidates")
        return cls(
            sample_id=str(row["sample_id"]),
            user_id=str(row["user_id"]),
            split=str(row["split"]),
            history=[str(h) for h in row["history"]],
            candidates=candidates,
            targets=[str(t) for t in row["targets"]],
            grades=None if grades is None else [float(g) for g in grades],
        )


@dataclass
class SidMap:
    """Item id -> semantic-ID codes (one int per level, each in ``[0, codebook_size)``).

    Saved as JSON: ``{"levels": 4, "codebook_size": 256, "codes": {"<item id>": [12, 5, 200, 7], ...}}``.
    """

    levels: int
    codebook_size: int
    codes: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def sid(self, item_id: str) -> str:
        """The SID string of one item; KeyError names the item when it has none."""
        try:
            return sid_string(self.codes[item_id])
        except KeyError:
            raise KeyError(f"item '{item_id}' has no SID in the SID map") from None

    def vocabulary(self) -> list[str]:
        """Every token the LLM vocabulary needs: begin/end markers plus one per (level, code)."""
        codes = [sid_code_token(level, c) for level in range(self.levels) for c in range(self.codebook_size)]
        return [SID_BEGIN, SID_END, *codes]

    def uniqueness(self) -> float:
        """Share of items whose SID no other item shares."""
        if not self.codes:
            return 0.0
        counts: dict[tuple[int, ...], int] = {}
        for c in self.codes.values():
            counts[c] = counts.get(c, 0) + 1
        return sum(1 for c in self.codes.values() if counts[c] == 1) / len(self.codes)

    def to_json(self) -> dict[str, Any]:
        return {
            "levels": self.levels,
            "codebook_size": self.codebook_size,
            "codes": {k: list(v) for k, v in self.codes.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str = "SID map") -> SidMap:
        """Validate and build; ``where`` names the file in errors."""
        for key in ("levels", "codebook_size", "codes"):
            if key not in data:
                raise ValueError(f"{where}: missing field '{key}'")
        levels, size = int(data["levels"]), int(data["codebook_size"])
        if not 1 <= levels <= len(LEVEL_NAMES):
            raise ValueError(f"{where}: field 'levels' must be in 1..{len(LEVEL_NAMES)}, got {levels}")
        codes: dict[str, tuple[int, ...]] = {}
        for item_id, item_codes in data["codes"].items():
            tup = tuple(int(c) for c in item_codes)
            if len(tup) != levels or not all(0 <= c < size for c in tup):
                raise ValueError(f"{where}: item '{item_id}' has codes {list(tup)}, need {levels} ints in [0, {size})")
            codes[str(item_id)] = tup
        return cls(levels=levels, codebook_size=size, codes=codes)

    def save(self, path: str) -> None:
        """Write atomically (temp file + rename)."""
        from gr2_verl.io import atomic_write_text

        atomic_write_text(path, json.dumps(self.to_json(), sort_keys=True))

    @classmethod
    def load(cls, path: str) -> SidMap:
        """Read a SID map JSON; errors name the file (missing, a folder, not UTF-8 JSON, bad fields)."""
        from gr2_verl.io import read_text

        text = read_text(path, "SID map JSON")  # names the line of a non-UTF-8 byte
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not a SID map JSON file ({e})") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a SID map JSON object, got {type(data).__name__}")
        return cls.from_json(data, where=str(path))


@dataclass(frozen=True)
class GroundTruth:
    """What a reward function knows about one veRL row: candidates in input order and the positives."""

    candidates: tuple[str, ...]
    targets: tuple[str, ...]
    grades: tuple[float, ...] | None = None

    @property
    def k(self) -> int:
        return len(self.candidates)

    def to_json(self) -> str:
        """The string stored in ``reward_model.ground_truth``."""
        data: dict[str, Any] = {"candidates": list(self.candidates), "targets": list(self.targets)}
        if self.grades is not None:
            data["grades"] = list(self.grades)
        return json.dumps(data, ensure_ascii=False)

    def relevance(self) -> tuple[float, ...]:
        """Graded label per candidate (input order): ``grades`` if given, else 1 for targets, 0 otherwise."""
        if self.grades is not None:
            return self.grades
        targets = set(self.targets)
        return tuple(1.0 if c in targets else 0.0 for c in self.candidates)


def parse_ground_truth(ground_truth: str | Mapping[str, Any]) -> GroundTruth:
    """Validate a ``reward_model.ground_truth`` value (JSON string or dict) into a ``GroundTruth``.

    Raises ValueError naming the bad field: a malformed ground truth is a data bug, not model output.
    """
    if isinstance(ground_truth, str):
        return _parse_ground_truth_json(ground_truth)
    if isinstance(ground_truth, Mapping):
        return _ground_truth_from_mapping(ground_truth)
    raise ValueError(f"ground_truth must be a JSON string or a dict, got {type(ground_truth).__name__}")


@lru_cache(maxsize=65536)  # a veRL batch repeats each row's ground truth n times; parse it once
def _parse_ground_truth_json(text: str) -> GroundTruth:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"ground_truth is not valid JSON ({e}): {text[:120]!r}") from None
    if not isinstance(data, dict):
        raise ValueError(f"ground_truth must be a JSON object, got {type(data).__name__}")
    return _ground_truth_from_mapping(data)


def _string_list(value: Any, name: str) -> tuple[str, ...]:
    # parquet round trips turn lists into numpy arrays; accept any non-string sequence of strings
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise ValueError(f"ground_truth field '{name}' must be a list of strings, got {type(value).__name__}")
    out = tuple(value)
    if not out or not all(isinstance(v, str) and v for v in out):
        raise ValueError(f"ground_truth field '{name}' must be a non-empty list of non-empty strings")
    return out


def _ground_truth_from_mapping(data: Mapping[str, Any]) -> GroundTruth:
    for key in ("candidates", "targets"):
        if key not in data:
            raise ValueError(f"ground_truth is missing field '{key}'")
    candidates = _string_list(data["candidates"], "candidates")
    if len(set(candidates)) != len(candidates):
        raise ValueError("ground_truth field 'candidates' has duplicates")
    targets = _string_list(data["targets"], "targets")
    grades = data.get("grades")
    if grades is not None:
        grades = tuple(float(g) for g in grades)
        if len(grades) != len(candidates) or not all(math.isfinite(g) and g >= 0 for g in grades):
            raise ValueError(f"ground_truth field 'grades' needs {len(candidates)} finite values >= 0")
    return GroundTruth(candidates=candidates, targets=targets, grades=grades)
