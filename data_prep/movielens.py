"""MovieLens-100K, read in place from the ``recbole`` wheel (its licence forbids copies: never commit it).

Files (tab-separated, one header line): ``ml-100k.inter`` (user_id, item_id, rating, timestamp) and
``ml-100k.item`` (item_id, movie_title, release_year, class = space-separated genres). Every rating
counts as an interaction, as in the sequential-recommendation literature. Item text: title with the
year, genres as categories.
"""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import pandas as pd

from gr2_verl.types import Item

DATASET = "ml-100k"


def default_dir() -> Path:
    """The ml-100k folder inside the installed recbole wheel (``pip install --no-deps recbole==1.2.1``)."""
    spec = importlib.util.find_spec("recbole")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("MovieLens-100K ships in the recbole wheel: pip install --no-deps recbole==1.2.1")
    return Path(spec.origin).parent / "dataset_example" / "ml-100k"


def _rows(path: Path, fields: tuple[str, ...]):
    """Yield ``(line number, {field: value})``; ValueError names file, line and field on a short row."""
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = [h.split(":")[0] for h in next(reader, [])]
        missing = [name for name in fields if name not in header]
        if missing:
            raise ValueError(f"{path}: line 1: header lacks field '{missing[0]}'")
        index = [header.index(name) for name in fields]
        for line_no, row in enumerate(reader, start=2):
            if len(row) < len(header):
                raise ValueError(f"{path}: line {line_no}: field '{header[len(row)]}' is missing")
            yield line_no, {name: row[i] for name, i in zip(fields, index, strict=True)}


def load_interactions(folder: Path | None = None) -> pd.DataFrame:
    """The rating log as ``user_id, item_id, timestamp`` in file order."""
    path = Path(folder or default_dir()) / "ml-100k.inter"
    users, items, stamps = [], [], []
    for line_no, row in _rows(path, ("user_id", "item_id", "timestamp")):
        try:
            stamps.append(int(float(row["timestamp"])))
        except ValueError:
            raise ValueError(
                f"{path}: line {line_no}: field 'timestamp' is not a number: {row['timestamp']!r}"
            ) from None
        users.append(row["user_id"])
        items.append(row["item_id"])
    return pd.DataFrame({"user_id": users, "item_id": items, "timestamp": stamps})


def load_items(folder: Path | None = None) -> dict[str, Item]:
    """Item id -> Item(title "Toy Story (1995)", categories = genres)."""
    path = Path(folder or default_dir()) / "ml-100k.item"
    out: dict[str, Item] = {}
    for _, row in _rows(path, ("item_id", "movie_title", "release_year", "class")):
        title = row["movie_title"].strip()
        if row["release_year"].strip():
            title = f"{title} ({row['release_year'].strip()})"
        out[row["item_id"]] = Item(row["item_id"], title, tuple(row["class"].split()))
    return out
