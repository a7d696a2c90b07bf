"""Your own data: interactions, item metadata and (optionally) your own candidate lists.

Each file may be CSV (with a header), JSONL or parquet, chosen by extension (``.csv``, ``.jsonl``/``.json``,
``.parquet``; CSV and JSONL also gzipped, ``.csv.gz``/``.jsonl.gz``). A UTF-8 byte-order mark is skipped.

- interactions: ``user_id``, ``item_id``, ``timestamp`` (a number, e.g. Unix seconds, or an ISO 8601
  date-time; ``Z`` or an offset sets the zone, a naive time is read as **UTC**). Optional: ``event``
  (filtered with ``events``), ``request_id`` (an impression id candidate lists may be keyed by). Rows with
  equal timestamps keep their file order.
- items: ``item_id``, ``title``, optional ``categories`` (a list, or in CSV one string with ``|``
  between categories, most general first), any other column for an item text template.
- candidates: ``candidates`` (ranked item ids, best first; a list, or ``|``-joined / a JSON list in CSV),
  optional ``labels`` (one grade per candidate, > 0 = positive: several positives and graded relevance),
  and one key naming the interaction whose item is the target (see ``KEYS``).

Every error names the file, the line (or parquet row) and the field.

Big logs: ``load_coded_interactions`` streams CSV, JSONL (gzipped too) and parquet a block / row group at a time
into int codes (~16 bytes an interaction); any row it cannot take as is sends the file through the
row-by-row ``load_interactions``, so results and error messages are the same either way.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from tqdm import tqdm

from data_prep.interactions import CodedLog
from data_prep.pipeline import GivenLists
from gr2_verl.io import input_file, read_items, read_records, required_field, string_list
from gr2_verl.types import Item

# Candidate-list keys, tried in this order against the file's columns: what the user already has.
KEYS = {
    "sample_id": ("sample_id",),  # ours: <user_id>:<n>, n the target's 0-based position after k-core
    "request_id": ("request_id",),  # an impression / request id also present in the interactions
    "user_id+timestamp": ("user_id", "timestamp"),  # the list shown when the user interacted at that time
    "user_id+item_id": ("user_id", "item_id"),  # the list that led to this user's interaction with the item
}
KEY_HELP = "sample_id, request_id, user_id+timestamp or user_id+item_id"


def timestamp(where: str, value: Any) -> int:
    """Unix seconds from a number or an ISO 8601 string (``Z`` accepted on Python 3.10; naive = UTC)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    text = str(value).strip()
    try:
        return int(float(text))
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "Zz" and text else text)
    except ValueError:
        raise ValueError(
            f"{where}: field 'timestamp' is neither a number nor an ISO 8601 date-time "
            f"(e.g. 1700000000 or 2024-01-31T12:00:00Z): {text!r}"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)  # never the machine's zone: same file, same split anywhere
    return int(parsed.timestamp())


def load_items(path: str | Path, text_template: str | None = None) -> dict[str, Item]:
    """Item id -> Item (see ``gr2_verl.io.read_items``, shared with ``gr2 sid fit``)."""
    return read_items(path, text_template)


def load_interactions(
    path: str | Path, known_items: dict[str, Item] | None = None, events: set[str] | None = None
) -> pd.DataFrame:
    """``user_id, item_id, timestamp`` (+ ``request_id`` when present) in file order.

    With ``known_items``, unknown item ids are errors; with ``events``, only rows whose ``event`` is one
    of them are kept (a file without an ``event`` field is then an error).
    """
    users, items, stamps, requests = [], [], [], []
    n_rows = 0
    for where, row in read_records(path):
        n_rows += 1
        if events is not None and str(required_field(where, row, "event")) not in events:
            continue
        item_id = str(required_field(where, row, "item_id"))
        if known_items is not None and item_id not in known_items:
            raise ValueError(f"{where}: field 'item_id': item '{item_id}' is not in the items file")
        users.append(str(required_field(where, row, "user_id")))
        items.append(item_id)
        stamps.append(timestamp(where, required_field(where, row, "timestamp")))
        request = row.get("request_id")
        requests.append(None if request is None or request == "" else str(request))
    if not users:
        wanted = f" with event in {sorted(events)}" if events is not None and n_rows else ""
        raise ValueError(f"{path}: no interactions{wanted} (expected rows of user_id, item_id, timestamp)")
    log = pd.DataFrame({"user_id": users, "item_id": items, "timestamp": stamps})
    if any(r is not None for r in requests):
        log["request_id"] = requests
    return log


CSV_BLOCK = 32 << 20  # CSV bytes parsed at once: bounds memory whatever the file size
FIELDS = ("user_id", "item_id", "timestamp", "event", "request_id")


class _RowByRow(Exception):
    """The streaming reader met something only the row-by-row reader handles (or reports) exactly."""


def load_coded_interactions(
    path: str | Path,
    known_items: dict[str, Item] | None = None,
    events: set[str] | None = None,
    *,
    progress: bool = False,
) -> CodedLog:
    """``load_interactions`` as a ``CodedLog``, streamed (CSV, JSONL, gzipped too, parquet) with memory flat in the
    file size.

    Falls back to ``load_interactions`` (the same rows, or its error naming line and field) for any block with an
    empty or missing field, an unknown item, a malformed timestamp, a value of another type or bad CSV / JSON.
    """
    try:
        return _stream(input_file(path, "interactions"), known_items, events, progress)
    except _RowByRow:
        return CodedLog.from_frame(load_interactions(path, known_items, events))


def _batches(path: Path):
    """Record batches of the interaction fields, as strings (CSV) or as stored (JSONL, parquet)."""
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    suffixes = [s.lower() for s in path.suffixes[-2:]]
    if suffixes[-1:] == [".parquet"]:
        try:
            pf = pq.ParquetFile(path)
        except (pa.ArrowInvalid, OSError):
            raise _RowByRow from None
        yield from pf.iter_batches(columns=[c for c in FIELDS if c in pf.schema_arrow.names])
        return
    if suffixes[-1:] in ([".jsonl"], [".json"]) or suffixes in ([".jsonl", ".gz"], [".json", ".gz"]):
        import pyarrow.json as pjson

        # types inferred per block: ids as integers or strings (``_text``); anything else goes row by row
        options = pjson.ReadOptions(block_size=CSV_BLOCK)
        for batch in pjson.open_json(pa.input_stream(str(path)), read_options=options):
            yield batch.select([c for c in FIELDS if c in batch.schema.names])
        return
    if suffixes[-1:] != [".csv"] and suffixes != [".csv", ".gz"]:
        raise _RowByRow
    reader = pcsv.open_csv(
        pa.input_stream(str(path)),
        read_options=pcsv.ReadOptions(block_size=CSV_BLOCK),
        parse_options=pcsv.ParseOptions(newlines_in_values=True),
        convert_options=pcsv.ConvertOptions(
            column_types={c: pa.string() for c in FIELDS},
            strings_can_be_null=False,
            include_columns=list(FIELDS),
            include_missing_columns=True,
        ),
    )
    yield from reader


def _text(column: pa.Array) -> pa.Array:
    """An id column as ``str(value)`` gives it; strings and integers only (others: row by row)."""
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return column
    if pa.types.is_integer(column.type):
        return pc.cast(column, pa.string())
    raise _RowByRow


def _present(batch: pa.RecordBatch, name: str) -> pa.Array | None:
    """The column, or None when the file lacks it (a CSV's missing column arrives all null)."""
    if name not in batch.schema.names or batch.column(name).null_count == len(batch):
        return None
    return batch.column(name)


def _filled(column: pa.Array | None) -> pa.Array:
    """A required field, every row non-empty (else: row by row, for the error naming the line)."""
    if column is None or column.null_count:
        raise _RowByRow
    text = _text(column)
    if pc.any(pc.equal(text, "")).as_py():
        raise _RowByRow
    return text


def _stamps(column: pa.Array | None) -> np.ndarray:
    """Unix seconds: integers directly, other text through ``timestamp`` (ISO 8601, decimals)."""
    if column is not None and not column.null_count and pa.types.is_integer(column.type):
        return column.to_numpy().astype(np.int64)
    text = _filled(column)
    try:
        return pc.cast(text, pa.int64()).to_numpy()
    except pa.ArrowInvalid:
        pass
    try:
        return np.array([timestamp("", v) for v in text.to_pylist()], dtype=np.int64)
    except ValueError:
        raise _RowByRow from None


class _Codes:
    """Strings -> provisional int codes (first-seen order), recoded to sorted order at the end."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}

    def encode(self, column: pa.Array) -> tuple[np.ndarray, list[str]]:
        """The column's provisional codes, and the strings of this batch."""
        encoded = pc.dictionary_encode(column)
        strings = encoded.dictionary.to_pylist()
        index = self.index
        codes = np.array([index.setdefault(s, len(index)) for s in strings], dtype=np.int32)
        return codes[encoded.indices.to_numpy(zero_copy_only=False)], strings

    def sorted(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(sorted ids, codes into them)."""
        ids = np.array(list(self.index), dtype=object)
        order = np.argsort(ids, kind="stable")
        rank = np.empty(len(ids), dtype=np.int32)
        rank[order] = np.arange(len(ids), dtype=np.int32)
        return ids[order], rank[codes]


def _stream(path: Path, known_items: dict[str, Item] | None, events: set[str] | None, progress: bool) -> CodedLog:
    users, items, parts = _Codes(), _Codes(), {"users": [], "items": [], "stamps": [], "requests": []}
    bar = None  # shown from the first good block on: a file refused at once prints its error alone
    try:
        for batch in _batches(path):
            if bar is None:
                bar = tqdm(desc=f"reading {path.name}", unit=" rows", unit_scale=True, disable=not progress)
            bar.update(len(batch))
            if events is not None:
                keep = pc.is_in(_filled(_present(batch, "event")), value_set=pa.array(sorted(events)))
                batch = batch.filter(keep)
            if not len(batch):
                continue
            item_codes, item_strings = items.encode(_filled(_present(batch, "item_id")))
            if known_items is not None and any(s not in known_items for s in item_strings):
                raise _RowByRow
            parts["items"].append(item_codes)
            parts["users"].append(users.encode(_filled(_present(batch, "user_id")))[0])
            parts["stamps"].append(_stamps(_present(batch, "timestamp")))
            request = _present(batch, "request_id")  # none: only the batch's length is kept
            blank = pa.scalar(None, pa.string())
            parts["requests"].append(len(batch) if request is None else pc.if_else(pc.equal(request, ""), blank,
                                                                                     _text(request)))  # fmt: skip
    except (pa.ArrowInvalid, UnicodeDecodeError, OSError, EOFError):
        raise _RowByRow from None  # bad CSV, not UTF-8, not gzip: the row-by-row reader names the line
    finally:
        if bar is not None:
            bar.close()
    if not parts["users"]:
        raise _RowByRow
    # each column's blocks go as soon as they are joined: the log is in memory about once, not twice
    user_ids, user_codes = users.sorted(np.concatenate(parts.pop("users")))
    del users  # its dict: an entry and an int object per user (the strings live on in user_ids)
    item_ids, item_codes = items.sorted(np.concatenate(parts.pop("items")))
    stamps = np.concatenate(parts.pop("stamps"))
    requests = None
    if not all(isinstance(r, int) for r in parts["requests"]):
        requests = pa.concat_arrays([pa.nulls(r, pa.string()) if isinstance(r, int) else r.cast(pa.string())
                                     for r in parts["requests"]])  # fmt: skip
    del parts
    log = CodedLog(
        user_ids, item_ids, user_codes, item_codes, stamps,
        None if requests is None or requests.null_count == len(requests) else requests,
    )  # fmt: skip
    del requests
    # arrow's allocator keeps the blocks' freed buffers for its next allocations; what follows is numpy's
    pa.default_memory_pool().release_unused()
    return log


def load_candidates(path: str | Path) -> GivenLists:
    """The user's ranked lists (distinct ids, best first), keyed as ``KEYS`` lists, with optional labels."""
    key_name: str | None = None
    lists: dict[Any, list[str]] = {}
    labels: dict[Any, list[float]] = {}
    for where, row in read_records(path):
        if key_name is None:
            key_name = next((name for name, cols in KEYS.items() if all(c in row for c in cols)), None)
            if key_name is None:
                raise ValueError(
                    f"{where}: no key field: a candidate list needs 'candidates' and one key, {KEY_HELP} "
                    f"(has {sorted(row)})"
                )
        key = _key(where, row, key_name)
        if key in lists:
            raise ValueError(f"{where}: field '{key_name}': {_show(key)} appears twice")
        cands = string_list(where, required_field(where, row, "candidates"), "candidates")
        if len(set(cands)) != len(cands):
            raise ValueError(f"{where}: field 'candidates' has duplicates")
        lists[key] = cands
        if row.get("labels") not in (None, ""):
            labels[key] = _labels(where, row["labels"], len(cands))
    if key_name is None:
        raise ValueError(f"{path}: no candidate lists")
    if labels and len(labels) != len(lists):
        raise ValueError(f"{path}: field 'labels' is given for {len(labels)} of {len(lists)} lists; give all or none")
    return GivenLists(key=key_name, lists=lists, labels=labels or None, source=str(path))


def _key(where: str, row: dict[str, Any], key_name: str) -> Any:
    if key_name == "user_id+timestamp":
        return str(required_field(where, row, "user_id")), timestamp(where, required_field(where, row, "timestamp"))
    values = tuple(str(required_field(where, row, c)) for c in KEYS[key_name])
    return values[0] if len(values) == 1 else values


def _show(key: Any) -> str:
    return repr(key) if not isinstance(key, tuple) else "(" + ", ".join(repr(v) for v in key) + ")"


def _labels(where: str, value: Any, n: int) -> list[float]:
    parts = string_list(where, value, "labels")
    try:
        grades = [float(v) for v in parts]
    except ValueError:
        raise ValueError(f"{where}: field 'labels' must be numbers, one per candidate: {parts[:5]}") from None
    if len(grades) != n or any(not g >= 0 for g in grades):
        raise ValueError(f"{where}: field 'labels' needs {n} numbers >= 0 (one per candidate), got {len(grades)}")
    return grades
