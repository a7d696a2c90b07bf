"""File I/O shared by every stage: atomic writes (a crash never leaves a half file over a good one) and
JSONL reading with errors that name file and line."""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gr2_verl.types import Item


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)`` on a temp file beside ``path``, then rename it over ``path``.

    The rename is atomic on one filesystem, so readers see the old file or the new one, never a mix.
    """
    with atomic_path(path) as tmp:
        write(tmp)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write a UTF-8 text file atomically."""

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)

    return atomic_write(path, write)


def input_file(path: str | os.PathLike, what: str = "input") -> Path:
    """``path`` as a Path once it is known to be a file; OSError naming it and what was expected otherwise.

    Readers call this before opening, so a missing path or a folder reads as one clear line, not a traceback.
    """
    p = Path(path)
    if p.is_dir():
        raise IsADirectoryError(f"{p}: is a folder, expected a {what} file")
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file (expected a {what} file)")
    if p.stat().st_size == 0:
        raise ValueError(f"{p}: is empty (expected a {what} file)")
    return p


def read_text(path: str | os.PathLike, what: str = "text") -> str:
    """A whole UTF-8 text file; errors name the file (missing, a folder, empty, not UTF-8 with its line)."""
    return _utf8_text(path, input_file(path, what).read_bytes())


def _utf8_text(path: str | os.PathLike, data: bytes) -> str:
    """Decode a whole file, a leading byte-order mark skipped; ValueError naming the line of a bad byte."""
    data = data.removeprefix(codecs.BOM_UTF8)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line_start, line_no = data.rfind(b"\n", 0, e.start) + 1, data.count(b"\n", 0, e.start) + 1
        raise _not_utf8(f"{path}: line {line_no}", data, e, line_start) from None


def output_dir(path: str | os.PathLike) -> Path:
    """``--out`` as a Path once it is known to be a folder or creatable as one; checked before slow work."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise FileExistsError(f"{p}: --out exists and is not a folder")
    for parent in p.parents:
        if parent.exists():
            if not parent.is_dir():
                raise FileExistsError(f"{parent}: is a file, so --out {p} cannot be created under it")
            break
    return p


def _compressed(path: Path) -> bool:
    return path.suffix.lower() == ".gz"


def _open_bytes(path: Path):
    return gzip.open(path, "rb") if _compressed(path) else open(path, "rb")


def _not_utf8(where: str, data: bytes, e: UnicodeDecodeError, line_start: int = 0) -> ValueError:
    column = e.start - line_start + 1
    return ValueError(f"{where}: not UTF-8 text (byte {data[e.start]:#04x} at column {column}); save it as UTF-8")


def _decode(where: str, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _not_utf8(where, data, e) from None


def read_jsonl(path: str | os.PathLike) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``(where, object)`` per non-blank line of a JSONL file (``.gz`` read through gzip).

    ``where`` is ``"<path>: line <n>"`` for the caller's own field errors; a line that is not UTF-8 or not a
    JSON object raises ValueError naming file and line. A UTF-8 byte-order mark on line 1 is skipped.
    """
    path = input_file(path, "JSONL")
    with _open_bytes(path) as f:
        try:
            for line_no, raw in enumerate(f, start=1):
                where = f"{path}: line {line_no}"
                line = _decode(where, raw[3:] if line_no == 1 and raw.startswith(codecs.BOM_UTF8) else raw)
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    raise ValueError(f"{where}: not valid JSON ({e})") from None
                if not isinstance(row, dict):
                    raise ValueError(f"{where}: expected a JSON object, got {type(row).__name__}")
                yield where, row
        except (gzip.BadGzipFile, EOFError) as e:
            raise ValueError(f"{path}: not a readable gzip file ({e})") from None


def read_csv(path: str | os.PathLike) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``("<file>: line N", row)`` per CSV row (header first; ``.gz`` read through gzip).

    A UTF-8 byte-order mark (Excel's "CSV UTF-8") is stripped so the first column keeps its name; a file
    that is not UTF-8 raises ValueError naming file and line.
    """
    path = input_file(path, "CSV")
    try:
        with _open_bytes(path) as f:
            data = f.read()
    except (gzip.BadGzipFile, EOFError) as e:
        raise ValueError(f"{path}: not a readable gzip file ({e})") from None
    text = _utf8_text(path, data)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        for row in reader:
            if None in row:
                raise ValueError(f"{path}: line {reader.line_num}: more fields than the header's {reader.fieldnames}")
            yield f"{path}: line {reader.line_num}", row
    except csv.Error as e:
        raise ValueError(f"{path}: line {reader.line_num}: not valid CSV ({e})") from None


def read_parquet(path: str | os.PathLike, columns: list[str] | None = None):
    """A ``pyarrow.Table`` of a parquet file; ValueError naming the file when it is not readable parquet
    (truncated, CSV or JSON renamed) or lacks one of ``columns``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = input_file(path, "parquet")
    try:
        pf = pq.ParquetFile(path)
        missing = [c for c in columns or () if c not in pf.schema_arrow.names]
        if missing:
            raise ValueError(f"{path}: missing columns {missing} (has {pf.schema_arrow.names})")
        return pf.read(columns=columns)
    except (pa.ArrowInvalid, pa.ArrowIOError) as e:  # ArrowIOError is OSError: name the file, keep the one line
        raise ValueError(f"{path}: not a readable parquet file ({e})") from None


# Extensions read_records accepts, each optionally followed by .gz (CSV and JSONL only).
RECORD_FORMATS = ".csv, .jsonl (.json), .parquet, or .csv.gz / .jsonl.gz"


def read_records(path: str | os.PathLike) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``("<file>: line N" | "<file>: row N", record)`` for each row of a CSV, JSONL or parquet file."""
    path = Path(path)
    suffixes = [s.lower() for s in path.suffixes[-2:]]
    kind = suffixes[-2] if suffixes[-1:] == [".gz"] and len(suffixes) == 2 else suffixes[-1] if suffixes else ""
    if kind == ".csv":
        yield from read_csv(path)
    elif kind in (".jsonl", ".json"):
        yield from read_jsonl(path)
    elif kind == ".parquet" and not _compressed(path):
        for n, row in enumerate(read_parquet(path).to_pylist()):
            yield f"{path}: row {n}", row
    else:
        raise ValueError(f"{path}: unknown file type '{''.join(path.suffixes) or path.name}' (use {RECORD_FORMATS})")


def required_field(where: str, row: dict[str, Any], name: str) -> Any:
    """``row[name]``; ValueError naming ``where`` and the field when it is absent or empty."""
    value = row.get(name)
    if value is None or value == "":
        raise ValueError(f"{where}: field '{name}' is missing or empty")
    return value


def string_list(where: str, value: Any, name: str) -> list[str]:
    """A list field as strings: a list (JSONL, parquet), or in CSV one ``|``-joined string or a JSON list.

    A comma-joined string is refused rather than read as one item: ``"a,b,c"`` would otherwise become a
    single unknown id and every sample would silently lose its list.
    """
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                raise ValueError(f"{where}: field '{name}' starts with '[' but is not a JSON list") from None
            if not isinstance(value, list):
                raise ValueError(f"{where}: field '{name}' must be a list")
            return string_list(where, value, name)
        if "," in text and "|" not in text:
            raise ValueError(
                f"{where}: field '{name}' looks comma-joined ({text[:60]!r}); write a JSON list "
                '(JSONL, parquet, or a CSV cell like ["a", "b"]) or join with \'|\' in CSV'
            )
        parts = [p.strip() for p in text.split("|")] if text else []
    elif isinstance(value, (list, tuple)) or hasattr(value, "tolist"):
        parts = [str(p) for p in value]
    else:
        raise ValueError(f"{where}: field '{name}' must be a list (or '|'-joined text in CSV)")
    if any(not p for p in parts):
        raise ValueError(f"{where}: field '{name}' has an empty entry")
    return parts


def read_items(path: str | os.PathLike, text_template: str | None = None) -> dict[str, Item]:
    """Item id -> Item from a CSV, JSONL or parquet catalogue (``item_id``, ``title``, optional ``categories``).

    ``text_template`` (a ``str.format`` string over the row's columns, e.g. ``"{title} by {brand}"``)
    replaces the title, so any column can reach prompts and SID text; without it the title is used as is.
    Duplicate ids and an empty file are errors naming the file.
    """
    out: dict[str, Item] = {}
    for where, row in read_records(path):
        item_id = str(required_field(where, row, "item_id"))
        if item_id in out:
            raise ValueError(f"{where}: field 'item_id': '{item_id}' appears twice")
        categories = row.get("categories")
        cats = () if categories is None or categories == "" else tuple(string_list(where, categories, "categories"))
        title = str(required_field(where, row, "title")).strip()
        if text_template is not None:
            title = _render(where, text_template, row).strip()
        out[item_id] = Item(item_id, title, cats)
    if not out:
        raise ValueError(f"{path}: no items")
    return out


def _render(where: str, template: str, row: dict[str, Any]) -> str:
    fields = {k: "" if v is None else v for k, v in row.items()}
    try:
        return template.format(**fields)
    except KeyError as e:
        raise ValueError(f"{where}: the item template names field {e} the row lacks (has {sorted(row)})") from None
    except (IndexError, ValueError) as e:
        raise ValueError(f"{where}: the item template {template!r} is not a valid format string ({e})") from None


def write_parquet(rows: list[dict[str, Any]], schema: Any, path: str | os.PathLike) -> Path:
    """Write rows atomically with a fixed ``pyarrow`` schema (same rows -> same bytes)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(rows, schema=schema)
    return atomic_write(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """A temp file path beside ``path``, renamed over ``path`` only when the ``with`` block ends cleanly.

    For writers that stream (a row group, a chunk of lines at a time): an error or a crash half-way never
    leaves a half file over a good one.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    os.chmod(tmp, 0o644)  # mkstemp makes 0600 files; outputs are meant to be shared like any other file
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


@contextmanager
def parquet_writer(path: str | os.PathLike, schema: Any) -> Iterator[Any]:
    """A ``pyarrow.parquet.ParquetWriter`` (zstd, as ``write_parquet``) writing ``path`` atomically, a row
    group per ``write_table`` call. Same rows in the same chunks -> same bytes."""
    import pyarrow.parquet as pq

    with atomic_path(path) as tmp, pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
        yield writer
