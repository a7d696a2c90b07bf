"""Loaders: MovieLens-100K in place, Amazon 2014 files (generated in the exact format), your own files.

Every malformed input must stop with an error naming the file, the line (or row) and the field.
"""

from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data_prep import amazon, custom, movielens


def test_movielens_reads_the_recbole_copy():
    items = movielens.load_items()
    assert items["1"].title == "Toy Story (1995)"
    assert items["1"].categories == ("Animation", "Children's", "Comedy")
    log = movielens.load_interactions()
    assert len(log) == 100_000 and list(log.columns) == ["user_id", "item_id", "timestamp"]


@pytest.mark.parametrize(
    "inter, message",
    [
        ("user_id:token\titem_id:token\trating:float\n1\t2\t3\n", "line 1: header lacks field 'timestamp'"),
        ("user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\t2\t3\t5\n7\t8\n", "line 3: field 'rating'"),
        ("user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\t2\t3\tsoon\n", "line 2: field 'timestamp'"),
    ],
)
def test_movielens_errors_name_file_line_field(tmp_path, inter, message):
    (tmp_path / "ml-100k.inter").write_text(inter)
    with pytest.raises(ValueError, match=message) as e:
        movielens.load_interactions(tmp_path)
    assert "ml-100k.inter" in str(e.value)


def _gz(path, lines):
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in lines))


REVIEW = {
    "reviewerID": "A1",
    "asin": "B001",
    "reviewerName": "Ann",
    "helpful": [0, 0],
    "reviewText": "Great",
    "overall": 5.0,
    "summary": "ok",
    "unixReviewTime": 1390000000,
    "reviewTime": "01 18, 2014",
}
# meta lines are Python literals (single quotes), exactly as in meta_<Cat>.json.gz
META = [
    "{'asin': 'B001', 'title': 'Rose Shampoo', 'price': 7.5, 'imUrl': 'http://x/y.jpg', "
    "'related': {'also_bought': ['B002']}, 'salesRank': {'Beauty': 12}, "
    "'categories': [['Beauty', 'Hair Care', 'Shampoos'], ['Beauty']], 'brand': 'Rosa'}",
    "{'asin': 'B002', 'categories': [['Beauty', 'Hair Care', 'Conditioners']], 'description': \"It's soft\"}",
    "{'asin': 'B999', 'title': 'Never reviewed', 'categories': [['Beauty']]}",
    "{'asin': 'B004', 'title': 'Salt &amp; Pepper &quot;Duo&quot;', 'brand': 'M&amp;S', "
    "'categories': [['Beauty', 'Bath &amp; Body']]}",  # HTML entities, as in the 2014 meta files
]


def test_amazon_reads_reviews_and_python_literal_meta(tmp_path):
    reviews, meta = (tmp_path / n for n in amazon.file_names("Beauty"))
    rows = [dict(REVIEW), dict(REVIEW, asin="B002", unixReviewTime=1390000100), dict(REVIEW, asin="B003"),
            dict(REVIEW, asin="B004")]
    _gz(reviews, [json.dumps(r) for r in rows])
    _gz(meta, META)
    log, items = amazon.load(reviews, meta)
    assert log.to_dict("list") == {
        "user_id": ["A1"] * 4,
        "item_id": ["B001", "B002", "B003", "B004"],
        "timestamp": [1390000000, 1390000100, 1390000000, 1390000000],
    }
    assert items["B001"].title == "Rose Shampoo [Rosa]"
    assert items["B001"].categories == ("Beauty", "Hair Care", "Shampoos")
    assert items["B002"].title == "B002"  # no title in meta: the asin stands in
    assert items["B003"].title == "B003" and items["B003"].categories == ()  # reviewed, absent from meta
    assert "B999" not in items  # never reviewed: not loaded
    assert items["B004"].text() == 'Salt & Pepper "Duo" [M&S] | Beauty, Bath & Body'  # entities unescaped


@pytest.mark.parametrize(
    "which, lines, message",
    [
        ("reviews", ['{"reviewerID": "A1", "asin": "B1", "unixReviewTime": 1}', "{not json"], "line 2: not valid JSON"),
        ("reviews", ['{"reviewerID": "A1", "unixReviewTime": 1}'], "line 1: field 'asin'"),
        ("reviews", ['{"reviewerID": "A1", "asin": "B1", "unixReviewTime": "x"}'], "line 1: field 'unixReviewTime'"),
        ("meta", ["{'asin': 'B1', 'title': 'unterminated}"], "line 1: not a Python literal"),
        ("meta", ["{'title': 'no asin'}"], "line 1: field 'asin'"),
        ("meta", ["{'asin': 'B1', 'categories': 'Beauty'}"], "line 1: field 'categories'"),
    ],
)
def test_amazon_errors_name_file_line_field(tmp_path, which, lines, message):
    reviews, meta = (tmp_path / n for n in amazon.file_names("Beauty"))
    _gz(reviews, lines if which == "reviews" else ['{"reviewerID": "A1", "asin": "B1", "unixReviewTime": 1}'])
    _gz(meta, lines if which == "meta" else [])
    with pytest.raises(ValueError, match=message) as e:
        amazon.load(reviews, meta)
    assert (reviews if which == "reviews" else meta).name in str(e.value)


def test_custom_formats_agree(tmp_path):
    rows = [
        {"user_id": "u1", "item_id": "a", "timestamp": 3},
        {"user_id": "u1", "item_id": "b", "timestamp": "2024-01-02T00:00:00+00:00"},
    ]
    (tmp_path / "log.csv").write_text("user_id,item_id,timestamp\nu1,a,3\nu1,b,2024-01-02T00:00:00+00:00\n")
    (tmp_path / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    pq.write_table(
        pa.Table.from_pylist([dict(r, timestamp=str(r["timestamp"])) for r in rows]), tmp_path / "log.parquet"
    )
    logs = [custom.load_interactions(tmp_path / f"log.{ext}").to_dict("list") for ext in ("csv", "jsonl", "parquet")]
    assert logs[0] == logs[1] == logs[2]
    assert logs[0]["timestamp"] == [3, 1704153600]
    (tmp_path / "items.csv").write_text('item_id,title,categories\na,Apple,Fruit|Red\nb,"Banana, ripe",\n')
    items = custom.load_items(tmp_path / "items.csv")
    assert (
        items["a"].categories == ("Fruit", "Red") and items["b"].title == "Banana, ripe" and items["b"].categories == ()
    )
    (tmp_path / "c.jsonl").write_text('{"sample_id": "u1:1", "candidates": ["a", "b"]}\n')
    given = custom.load_candidates(tmp_path / "c.jsonl")
    assert (given.key, given.lists, given.labels) == ("sample_id", {"u1:1": ["a", "b"]}, None)


@pytest.mark.parametrize(
    "kind, name, text, message",
    [
        ("interactions", "log.csv", "user_id,item_id,timestamp\nu1,a,1\nu1,,2\n", "line 3: field 'item_id'"),
        ("interactions", "log.csv", "user_id,item_id,timestamp\nu1,a,yesterday\n", "line 2: field 'timestamp'"),
        ("interactions", "log.jsonl", '{"user_id": "u", "item_id": "a", "timestamp": 1}\n[1]\n', "line 2: expected"),
        ("interactions", "log.csv", "user_id,item_id,timestamp\nu1,zzz,1\n", "line 2: field 'item_id': item 'zzz'"),
        (
            "items",
            "items.jsonl",
            '{"item_id": "a", "title": "A"}\n{"item_id": "a", "title": "B"}\n',
            "line 2: field 'item_id'",
        ),
        ("items", "items.jsonl", '{"item_id": "a"}\n', "line 1: field 'title'"),
        ("items", "items.jsonl", '{"item_id": "a", "title": "A", "categories": 5}\n', "line 1: field 'categories'"),
        ("candidates", "c.jsonl", '{"sample_id": "u:1", "candidates": ["a", "a"]}\n', "line 1: field 'candidates'"),
        ("candidates", "c.csv", "sample_id,candidates\nu:1,a|b\nu:1,a|c\n", "line 3: field 'sample_id'"),
        ("items", "items.txt", "x", "unknown file type"),
    ],
)
def test_custom_errors_name_file_line_field(tmp_path, kind, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as e:
        if kind == "interactions":
            custom.load_interactions(path, {"a": None, "b": None})
        elif kind == "items":
            custom.load_items(path)
        else:
            custom.load_candidates(path)
    assert name in str(e.value)
