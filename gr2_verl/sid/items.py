"""Catalogue files -> the item text the SID encoder embeds."""

from __future__ import annotations

from gr2_verl.io import read_items


def read_item_texts(path: str) -> dict[str, str]:
    """A catalogue (CSV, JSONL or parquet, as ``gr2 prepare custom --items`` reads it) -> item id -> text,
    in file order.

    Errors name the file, line and field; duplicate ids are errors (one item, one SID).
    """
    return {item_id: item.text() for item_id, item in read_items(path).items()}
