"""Read what evaluation needs: the RL test parquet (ground truth + extra_info) and model generations.

Generations come either from veRL's validation dump (``trainer.validation_data_dir``: one JSONL per
step with ``input``, ``output``, ``gts``, ``score``, ``step`` and the reward's extra keys, among them
``row_index`` = the row's ``extra_info.index``, logged by ``gr2_verl.verl_ext.reward_manager``), or from
any JSONL/parquet that carries a sample index and the output text (columns named below). A dump
without an index is matched by its ground-truth string ``gts`` only when no two test rows share one.
Every test row must get at least one generation: veRL drops a prompt longer than
``data.max_prompt_length`` (``filter_overlong_prompts``), and an evaluation on a silent subset is refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gr2_verl.io import read_records
from gr2_verl.types import GroundTruth, parse_ground_truth

OUTPUT_FIELDS = ("output", "response", "solution_str", "generation", "text")  # first present one is the answer
# first present one is the test-row index; row_index: our reward manager's copy of extra_info.index
INDEX_FIELDS = ("row_index", "index", "sample_index", "extra_info.index")


@dataclass(frozen=True)
class RLRow:
    """One RL parquet row, as evaluation and the lab need it.

    ``shown_order[i]`` is the pre-rank index of the candidate shown in prompt slot i;
    ``popularity`` is per candidate in pre-rank order (None when the row has none).
    """

    index: int
    truth: GroundTruth
    ground_truth: str
    shown_order: tuple[int, ...]
    popularity: tuple[int, ...] | None

    @property
    def target_in_list(self) -> bool:
        return self.truth.targets[0] in self.truth.candidates

    @property
    def shown_candidates(self) -> tuple[str, ...]:
        """The candidates in the order the prompt shows them."""
        return tuple(self.truth.candidates[i] for i in self.shown_order)


def rl_row_from_record(record: Mapping[str, Any], where: str, row_number: int) -> RLRow:
    """Validate one RL record (``reward_model`` + ``extra_info``); errors name ``where`` and the field."""
    reward_model = record.get("reward_model")
    if not isinstance(reward_model, Mapping) or "ground_truth" not in reward_model:
        raise ValueError(f"{where}: field 'reward_model.ground_truth' is missing")
    gt = reward_model["ground_truth"]
    try:
        truth = parse_ground_truth(gt)
    except ValueError as e:
        raise ValueError(f"{where}: field 'reward_model.{e}") from None
    gt_text = gt if isinstance(gt, str) else truth.to_json()
    extra = record.get("extra_info") or {}
    k = truth.k
    shown = extra.get("shown_order")
    shown_order = tuple(range(k)) if shown is None else tuple(int(i) for i in shown)
    if sorted(shown_order) != list(range(k)):
        raise ValueError(f"{where}: field 'extra_info.shown_order' must be a permutation of 0..{k - 1}")
    pop = extra.get("candidate_popularity")
    popularity = None if pop is None else tuple(int(p) for p in pop)
    if popularity is not None and len(popularity) != k:
        raise ValueError(f"{where}: field 'extra_info.candidate_popularity' has {len(popularity)} values, need {k}")
    index = extra.get("index")
    return RLRow(
        index=row_number if index is None else int(index),
        truth=truth,
        ground_truth=gt_text,
        shown_order=shown_order,
        popularity=popularity,
    )


def load_rl_rows(path: str | Path) -> list[RLRow]:
    """Read an RL parquet (CONTRACTS.md schema) into ``RLRow``s; errors name file, row and field."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    missing = [c for c in ("reward_model", "extra_info") if c not in table.column_names]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}")
    records = table.select(["reward_model", "extra_info"]).to_pylist()
    rows = [rl_row_from_record(r, f"{path}: row {i}", i) for i, r in enumerate(records)]
    seen: dict[int, int] = {}
    for i, row in enumerate(rows):
        if row.index in seen:
            raise ValueError(f"{path}: row {i}: field 'extra_info.index' = {row.index} repeats row {seen[row.index]}")
        seen[row.index] = i
    return rows


@dataclass(frozen=True)
class Generation:
    """One model answer for one test row (``index`` = ``RLRow.index``)."""

    index: int
    text: str


def _field(record: Mapping[str, Any], dotted: str) -> Any:
    value: Any = record
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _first_field(records: Sequence[Mapping[str, Any]], names: Sequence[str]) -> str | None:
    return next((n for n in names if records and _field(records[0], n) is not None), None)


def load_generations(path: str | Path, rows: Sequence[RLRow]) -> list[Generation]:
    """Read generations and tie each to a test row: by ``gts`` (veRL dump) or by a sample index column.

    Several generations per row are fine (veRL's ``val_kwargs.n``); evaluation averages them per row.
    """
    path = Path(path)
    pairs = list(read_records(path))
    records = [record for _, record in pairs]
    if not records:
        raise ValueError(f"{path}: no generations")
    out_field = _first_field(records, OUTPUT_FIELDS)
    if out_field is None:
        fields = sorted(records[0])
        raise ValueError(f"{path}: no output text field; expected one of {list(OUTPUT_FIELDS)}, got {fields}")
    steps = {r.get("step") for r in records}
    if len(steps) > 1:
        raise ValueError(f"{path}: holds several training steps {sorted(steps)}; pass one step's file")
    by_index = {row.index: row for row in rows}
    index_field = _first_field(records, INDEX_FIELDS)
    if index_field is None and "gts" not in records[0]:
        raise ValueError(f"{path}: no sample index; expected 'gts' (veRL dump) or one of {list(INDEX_FIELDS)}")
    by_gt = {row.ground_truth: row.index for row in rows}
    if index_field is None and len(by_gt) < len(rows):
        raise ValueError(
            f"{path}: no row index, and {len(rows) - len(by_gt)} test rows share their ground truth with another, "
            "so answers cannot be matched to rows by 'gts'; generate with recipes/eval.sh (its reward manager "
            f"logs row_index) or add one of {list(INDEX_FIELDS)}"
        )
    gens = []
    for where, record in pairs:
        text = _field(record, out_field)
        if index_field is not None:
            index = _field(record, index_field)
            if index is None or int(index) not in by_index:
                raise ValueError(f"{where}: field '{index_field}' = {index!r} is not a row of the test parquet")
            index = int(index)
        else:
            gts = record.get("gts")
            if not isinstance(gts, str) or gts not in by_gt:
                raise ValueError(f"{where}: field 'gts' matches no ground truth of the test parquet")
            index = by_gt[gts]
        gens.append(Generation(index=index, text=text if isinstance(text, str) else ""))
    missing = sorted(by_index.keys() - {g.index for g in gens})
    if missing:
        raise ValueError(
            f"{path}: {len(missing)} of {len(rows)} test rows have no generation (first: {missing[:5]}); "
            "veRL drops prompts longer than data.max_prompt_length: raise it (recipes/eval.sh sizes it from "
            "summary.json) or pass the test parquet of the rows you generated"
        )
    return gens
