"""Where a trace run keeps its state: an append-only attempts JSONL (the source of truth) and its SFT parquet.

Resumability rests on two rules. A record exists once its line, newline included, is on disk: a tail
without a newline is a write cut short by a crash and is truncated away on open. Each
``(sample_key, attempt)`` is recorded once: a repeated key (impossible unless two runs share a folder)
is ignored on load, so a rebuild never duplicates a sample. The parquet is rebuilt from the log,
atomically, after every run, so an interrupted run leaves the previous parquet intact.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from gr2_verl.io import atomic_write

Record = dict[str, Any]


class AttemptLog:
    """The attempts JSONL of one output folder: loaded on open, appended one flushed line per attempt."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.records: dict[tuple[str, int], Record] = {}
        self.duplicates = 0
        self.truncated_bytes = 0
        if self.path.exists():
            self._load()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")

    def _load(self) -> None:
        raw = self.path.read_bytes()
        complete = raw[: raw.rfind(b"\n") + 1]
        if len(complete) != len(raw):
            self.truncated_bytes = len(raw) - len(complete)
            with open(self.path, "r+b") as f:
                f.truncate(len(complete))
        for n, line in enumerate(complete.decode("utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                key = (str(rec["sample_key"]), int(rec["attempt"]))
            except (ValueError, KeyError, TypeError) as e:
                raise ValueError(f"{self.path}: line {n}: not an attempt record ({e})") from None
            if key in self.records:
                self.duplicates += 1
                continue
            self.records[key] = rec

    def append(self, record: Record) -> None:
        """Record one attempt (one line, flushed); a key already recorded is a caller bug and raises."""
        key = (str(record["sample_key"]), int(record["attempt"]))
        if key in self.records:
            raise ValueError(f"attempt {key} is already recorded in {self.path}")
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()
        self.records[key] = record

    def sync(self) -> None:
        """Flush to the disk itself (once per wave: an fsync per line would dominate fast backends)."""
        self._file.flush()
        os.fsync(self._file.fileno())

    def by_sample(self) -> dict[str, list[Record]]:
        """Records grouped per sample key, each list sorted by attempt number."""
        out: dict[str, list[Record]] = {}
        for (key, _), rec in sorted(self.records.items(), key=lambda kv: kv[0]):
            out.setdefault(key, []).append(rec)
        return out

    def close(self) -> None:
        self._file.close()


def sft_schema():
    """The SFT parquet schema, fixed so an empty run still writes a file veRL can open."""
    import pyarrow as pa

    message = pa.struct([("role", pa.string()), ("content", pa.string())])
    return pa.schema(
        [
            ("messages", pa.list_(message)),
            ("data_source", pa.string()),
            ("sample_id", pa.string()),
            ("attempt", pa.int64()),
            ("reward", pa.float64()),
        ]
    )


def write_sft_parquet(path: str | os.PathLike, rows: Iterable[Mapping[str, Any]]) -> int:
    """Write SFT rows (``messages``, ``data_source``, ``sample_id``, ``attempt``, ``reward``) atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(list(rows), schema=sft_schema())
    atomic_write(path, lambda tmp: pq.write_table(table, tmp))
    return table.num_rows


def sft_messages(prompt: Sequence[Mapping[str, str]], answer: str) -> list[dict[str, str]]:
    """The SFT conversation: the student's RL prompt, unchanged, plus the assistant answer."""
    return [{"role": str(m["role"]), "content": str(m["content"])} for m in prompt] + [
        {"role": "assistant", "content": answer}
    ]
