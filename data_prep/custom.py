"""Your own data: interactions, item metadata and (optionally) your own candidate lists.

Each file may be CSV (with a header), JSONL or parquet (chosen by extension: .csv, .jsonl/.json,
.parquet). Fields:

- interactions: ``user_id``, ``item_id``, ``timestamp`` (a number, e.g. Unix seconds, or an ISO 8601
  date-time string). Rows with equal timestamps keep their file order.
- items: ``item_id``, ``title``, optional ``categories`` (a list, or in CSV one string with ``|``
  between categories, most general first).
- candidates: ``sample_id`` and ``candidates`` (ranked item ids, best first; a list, or ``|``-joined
  in CSV). Sample ids are ``<user_id>:<n>``, n the 0-based position of the target in the user's
  time-ordered sequence after k-core filtering: the user's last item is their test sample. Run once
  without candidates to see every sample id in ``samples.jsonl``. Samples without a list are left out.

Every error names the file, the line (or parquet row) and the field.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from gr2_verl.io import read_records
from gr2_verl.types import Item


def _field(where: str, row: dict[str, Any], name: str) -> Any:
    value = row.get(name)
    if value is None or value == "":
        raise ValueError(f"{where}: field '{name}' is missing or empty")
    return value


def _timestamp(where: str, value: Any) -> int:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    text = str(value).strip()
    try:
        return int(float(text))
    except ValueError:
        pass
    try:
        return int(datetime.fromisoformat(text).timestamp())
    except ValueError:
        raise ValueError(f"{where}: field 'timestamp' is neither a number nor an ISO 8601 date: {text!r}") from None


def _string_list(where: str, value: Any, name: str) -> list[str]:
    if isinstance(value, str):
        parts = [p.strip() for p in value.split("|")] if value.strip() else []
    elif isinstance(value, (list, tuple)):
        parts = [str(p) for p in value]
    else:
        raise ValueError(f"{where}: field '{name}' must be a list (or '|'-joined text in CSV)")
    if any(not p for p in parts):
        raise ValueError(f"{where}: field '{name}' has an empty entry")
    return parts


def load_items(path: str | Path) -> dict[str, Item]:
    """Item id -> Item; duplicate ids are an error."""
    out: dict[str, Item] = {}
    for where, row in read_records(path):
        item_id = str(_field(where, row, "item_id"))
        if item_id in out:
            raise ValueError(f"{where}: field 'item_id': '{item_id}' appears twice")
        categories = row.get("categories")
        cats = () if categories is None else tuple(_string_list(where, categories, "categories"))
        out[item_id] = Item(item_id, str(_field(where, row, "title")).strip(), cats)
    return out


def load_interactions(path: str | Path, known_items: dict[str, Item] | None = None) -> pd.DataFrame:
    """``user_id, item_id, timestamp`` in file order; with ``known_items``, unknown item ids are errors."""
    users, items, stamps = [], [], []
    for where, row in read_records(path):
        item_id = str(_field(where, row, "item_id"))
        if known_items is not None and item_id not in known_items:
            raise ValueError(f"{where}: field 'item_id': item '{item_id}' is not in the items file")
        users.append(str(_field(where, row, "user_id")))
        items.append(item_id)
        stamps.append(_timestamp(where, _field(where, row, "timestamp")))
    if not users:
        raise ValueError(f"{path}: no interactions")
    return pd.DataFrame({"user_id": users, "item_id": items, "timestamp": stamps})


def load_candidates(path: str | Path) -> dict[str, list[str]]:
    """Sample id -> ranked candidate item ids (distinct, best first)."""
    out: dict[str, list[str]] = {}
    for where, row in read_records(path):
        sample_id = str(_field(where, row, "sample_id"))
        if sample_id in out:
            raise ValueError(f"{where}: field 'sample_id': '{sample_id}' appears twice")
        cands = _string_list(where, _field(where, row, "candidates"), "candidates")
        if len(set(cands)) != len(cands):
            raise ValueError(f"{where}: field 'candidates' has duplicates")
        out[sample_id] = cands
    return out
