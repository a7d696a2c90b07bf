"""Amazon Reviews 2014 (McAuley et al.): ``reviews_<Cat>_5.json.gz`` + ``meta_<Cat>.json.gz``.

The 5-core review file has one JSON object per line (``reviewerID``, ``asin``, ``unixReviewTime``,
...). The meta file has one **Python literal** per line (single quotes; read with
``ast.literal_eval``, never ``eval``): ``asin``, ``title``, ``brand``, ``categories`` (a list of
category paths), ... Item text: the title (plus ``[brand]`` when the title lacks it) and the first
category path. Items reviewed but absent from the meta file keep their asin as title.

``download`` fetches both files from their public home for users with internet access.
"""

from __future__ import annotations

import ast
import gzip
import html
import re
import shutil
import urllib.request
from pathlib import Path

import pandas as pd

from gr2_verl.io import atomic_write, input_file, read_jsonl
from gr2_verl.types import Item

BASE_URL = "https://snap.stanford.edu/data/amazon/productGraph/categoryFiles"
_ASIN = re.compile(r"""['"]asin['"]\s*:\s*['"]([^'"]+)['"]""")  # cheap pre-filter before literal_eval


def file_names(category: str) -> tuple[str, str]:
    """``("reviews_<Cat>_5.json.gz", "meta_<Cat>.json.gz")``, e.g. category ``Beauty`` or ``Sports_and_Outdoors``."""
    return f"reviews_{category}_5.json.gz", f"meta_{category}.json.gz"


def download(category: str, folder: str | Path) -> list[Path]:
    """Fetch the two files of ``category`` into ``folder`` (skipping files already there); needs internet."""
    paths = []
    for name in file_names(category):
        target = Path(folder) / name
        if not target.exists():

            def fetch(tmp: str, url: str = f"{BASE_URL}/{name}") -> None:
                with urllib.request.urlopen(url, timeout=60) as response, open(tmp, "wb") as f:
                    shutil.copyfileobj(response, f)

            atomic_write(target, fetch)
        paths.append(target)
    return paths


def load_reviews(path: str | Path) -> pd.DataFrame:
    """``user_id`` (reviewerID), ``item_id`` (asin), ``timestamp`` (unixReviewTime) in file order."""
    users, items, stamps = [], [], []
    for where, row in read_jsonl(path):
        for name in ("reviewerID", "asin", "unixReviewTime"):
            if row.get(name) in (None, ""):
                raise ValueError(f"{where}: field '{name}' is missing or empty")
        try:
            stamps.append(int(row["unixReviewTime"]))
        except (TypeError, ValueError):
            raise ValueError(f"{where}: field 'unixReviewTime' is not an integer") from None
        users.append(str(row["reviewerID"]))
        items.append(str(row["asin"]))
    return pd.DataFrame({"user_id": users, "item_id": items, "timestamp": stamps})


def load_meta(path: str | Path, wanted: set[str] | None = None) -> dict[str, Item]:
    """asin -> Item for the lines whose asin is in ``wanted`` (all when None)."""
    out: dict[str, Item] = {}
    with gzip.open(input_file(path, "Amazon meta .json.gz"), "rb") as f:
        try:
            for line_no, raw in enumerate(f, start=1):
                _meta_line(out, path, line_no, raw, wanted)
        except (gzip.BadGzipFile, EOFError) as e:
            raise ValueError(f"{path}: not a readable gzip file ({e})") from None
    return out


def _meta_line(out: dict[str, Item], path: str | Path, line_no: int, raw: bytes, wanted: set[str] | None) -> None:
    """Parse one meta line into ``out`` (skipped when blank or its asin is not wanted)."""
    where = f"{path}: line {line_no}"
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{where}: not UTF-8 text") from None
    if not line.strip():
        return
    quick = _ASIN.search(line)
    if wanted is not None and quick is not None and quick.group(1) not in wanted:
        return
    try:
        row = ast.literal_eval(line)
    except (ValueError, SyntaxError) as e:
        raise ValueError(f"{where}: not a Python literal ({e.__class__.__name__})") from None
    if not isinstance(row, dict) or not row.get("asin"):
        raise ValueError(f"{where}: field 'asin' is missing")
    asin = str(row["asin"])
    if wanted is None or asin in wanted:
        out[asin] = _item(where, asin, row)


def _item(where: str, asin: str, row: dict) -> Item:
    # The 2014 meta file keeps HTML entities from the product pages (`&amp;`, `&quot;`): prompts get the text.
    title = html.unescape(str(row.get("title") or asin)).strip()
    brand = html.unescape(str(row.get("brand") or "")).strip()
    if brand and brand.lower() not in title.lower():
        title = f"{title} [{brand}]"
    categories = row.get("categories") or [[]]
    if not isinstance(categories, list) or not all(isinstance(c, list) for c in categories):
        raise ValueError(f"{where}: field 'categories' must be a list of category paths (lists)")
    return Item(asin, title, tuple(html.unescape(str(c)) for c in (categories[0] if categories else [])))


def load(reviews_path: str | Path, meta_path: str | Path) -> tuple[pd.DataFrame, dict[str, Item]]:
    """The review log and metadata for every reviewed item (asin as title when the meta file lacks it)."""
    log = load_reviews(reviews_path)
    asins = set(log["item_id"])
    items = load_meta(meta_path, asins)
    for asin in sorted(asins - set(items)):
        items[asin] = Item(asin, asin)
    return log, items
