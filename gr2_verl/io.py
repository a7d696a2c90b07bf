"""File I/O shared by every stage: atomic writes (a crash never leaves a half file over a good one) and
JSONL reading with errors that name file and line."""

from __future__ import annotations

import csv
import gzip
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)`` on a temp file beside ``path``, then rename it over ``path``.

    The rename is atomic on one filesystem, so readers see the old file or the new one, never a mix.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    os.chmod(tmp, 0o644)  # mkstemp makes 0600 files; outputs are meant to be shared like any other file
    try:
        write(tmp)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return target


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write a UTF-8 text file atomically."""

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)

    return atomic_write(path, write)


def read_jsonl(path: str | os.PathLike) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``(where, object)`` per non-blank line of a JSONL file (``.gz`` read through gzip).

    ``where`` is ``"<path>: line <n>"`` for the caller's own field errors; a line that is not a JSON
    object raises ValueError naming file and line.
    """
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"{path}: line {line_no}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{where}: not valid JSON ({e})") from None
            if not isinstance(row, dict):
                raise ValueError(f"{where}: expected a JSON object, got {type(row).__name__}")
            yield where, row


def read_records(path: str | os.PathLike) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``("<file>: line N" | "<file>: row N", record)`` for each row of a CSV, JSONL or parquet file."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with open(path, encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            for row in reader:
                yield f"{path}: line {reader.line_num}", row
    elif suffix in (".jsonl", ".json"):
        yield from read_jsonl(path)
    elif suffix == ".parquet":
        import pyarrow.parquet as pq

        for n, row in enumerate(pq.read_table(path).to_pylist()):
            yield f"{path}: row {n}", row
    else:
        raise ValueError(f"{path}: unknown file type '{suffix}' (use .csv, .jsonl or .parquet)")


def write_parquet(rows: list[dict[str, Any]], schema: Any, path: str | os.PathLike) -> Path:
    """Write rows atomically with a fixed ``pyarrow`` schema (same rows -> same bytes)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(rows, schema=schema)
    return atomic_write(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))
