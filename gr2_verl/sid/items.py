"""Catalogue files -> the item text the SID encoder embeds."""

from __future__ import annotations

from gr2_verl.io import read_jsonl
from gr2_verl.types import Item


def read_item_texts(path: str) -> dict[str, str]:
    """``items.jsonl`` (one ``{"item_id", "title", "categories"}`` per line) -> item id -> text, in file order.

    Errors name the file, line and field; duplicate ids are errors (one item, one SID).
    """
    texts: dict[str, str] = {}
    for where, row in read_jsonl(path):
        for key in ("item_id", "title"):
            if key not in row:
                raise ValueError(f"{where}: missing field '{key}'")
        categories = row.get("categories") or []
        if isinstance(categories, str) or not all(isinstance(c, str) for c in categories):
            raise ValueError(f"{where}: field 'categories' must be a list of strings")
        item_id = str(row["item_id"])
        if item_id in texts:
            raise ValueError(f"{where}: duplicate item_id '{item_id}'")
        texts[item_id] = Item(item_id, str(row["title"]), tuple(categories)).text()
    if not texts:
        raise ValueError(f"{path}: no items")
    return texts
