"""Read what evaluation needs: the RL test parquet (``gr2_verl.rl_row``) and model generations.

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
from gr2_verl.rl_row import RLRow

OUTPUT_FIELDS = ("output", "response", "solution_str", "generation", "text")  # first present one is the answer
# first present one is the test-row index; row_index: our reward manager's copy of extra_info.index
INDEX_FIELDS = ("row_index", "index", "sample_index", "extra_info.index")


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
    # index-less dumps (veRL's own) are matched by ground truth
    by_gt = {row.ground_truth: row.index for row in rows} if index_field is None else {}
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
            gts = record.get("gts")
            if isinstance(gts, str) and gts != by_index[index].ground_truth:  # an index alone cannot tell files apart
                raise ValueError(
                    f"{where}: field 'gts' differs from the ground truth of test row {index}; these generations "
                    "come from another test file"
                )
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
