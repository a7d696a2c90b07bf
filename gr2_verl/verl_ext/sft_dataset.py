"""veRL's multi-turn SFT dataset, with every row's length checked when it is built instead of when it is reached.

Plugs into ``data.custom_cls.path=pkg://gr2_verl.verl_ext.sft_dataset`` and
``data.custom_cls.name=LengthCheckedSFTDataset`` (``verl.trainer.sft_trainer.create_sft_dataset``).

Why: with ``data.truncation: error`` (reasoning SFT: a cut trace would train an answer without its
ranking) veRL's ``MultiTurnSFTDataset`` tokenises lazily and raises on the first over-long row only
when a batch reaches it, possibly hours into a run. This subclass tokenises every row once at
construction (a few ms per row) and fails at once, naming the rows and the limit. It recognises veRL's
error by its text (``... is larger than self.max_length=...``); if veRL rewords it, the original error
still stops the run at construction, just without the summary.
"""

from __future__ import annotations

from verl.utils.dataset.multiturn_sft_dataset import MultiTurnSFTDataset

TOO_LONG = "is larger than"  # veRL 0.9.1: ValueError(f"{sequence_length=} is larger than {self.max_length=}")


class LengthCheckedSFTDataset(MultiTurnSFTDataset):
    """``MultiTurnSFTDataset`` that, under ``truncation: error``, rejects over-long rows before training."""

    def __init__(self, parquet_files, tokenizer, config, processor=None, max_samples: int = -1):
        super().__init__(parquet_files, tokenizer, config, processor=processor, max_samples=max_samples)
        if self.truncation != "error":
            return
        too_long = []
        for i in range(len(self)):
            try:
                self[i]
            except ValueError as e:
                if TOO_LONG not in str(e):
                    raise
                too_long.append(i)
        if too_long:
            raise ValueError(
                f"{len(too_long)} of {len(self)} SFT rows are longer than data.max_length={self.max_length} tokens "
                f"(rows {too_long[:10]}); raise data.max_length or drop those rows: with data.truncation=error "
                "veRL would stop at the first of them mid-run"
            )
