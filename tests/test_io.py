"""Shared readers: every row comes with where it came from; bad lines are named."""

from __future__ import annotations

import gzip

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gr2_verl.io import read_jsonl, read_records


def test_jsonl_plain_and_gzip_skip_blank_lines(tmp_path):
    text = '{"a": 1}\n\n{"a": 2}\n'
    (tmp_path / "x.jsonl").write_text(text)
    with gzip.open(tmp_path / "x.json.gz", "wt") as f:
        f.write(text)
    for name in ("x.jsonl", "x.json.gz"):
        rows = list(read_jsonl(tmp_path / name))
        assert rows == [(f"{tmp_path / name}: line 1", {"a": 1}), (f"{tmp_path / name}: line 3", {"a": 2})]


@pytest.mark.parametrize(
    "line,message",
    [
        ('{"a": ', "line 2: not valid JSON"),  # truncated row
        ("[1, 2]", "line 2: expected a JSON object, got list"),
    ],
)
def test_jsonl_bad_line_is_named(tmp_path, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"ok": true}\n' + line + "\n")
    with pytest.raises(ValueError, match=f"bad.jsonl: {message}"):
        list(read_jsonl(path))


def test_records_from_csv_and_parquet(tmp_path):
    (tmp_path / "r.csv").write_text("user,item\nu1,i1\nu2,i2\n")
    assert [w.rsplit(": ", 1)[1] for w, _ in read_records(tmp_path / "r.csv")] == ["line 2", "line 3"]
    pq.write_table(pa.Table.from_pylist([{"user": "u1"}]), tmp_path / "r.parquet")
    assert list(read_records(tmp_path / "r.parquet")) == [(f"{tmp_path / 'r.parquet'}: row 0", {"user": "u1"})]
    with pytest.raises(ValueError, match="unknown file type '.txt'"):
        list(read_records(tmp_path / "r.txt"))
