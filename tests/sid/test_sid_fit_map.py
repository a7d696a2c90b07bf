"""``fit_sid_map`` on real MovieLens-100K titles, the embedding cache, catalogue files and the ``gr2 sid`` CLI."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from gr2_verl.cli.main import main
from gr2_verl.sid import fit_sid_map
from gr2_verl.sid.embed import embed_texts, load_embeddings
from gr2_verl.sid.items import read_item_texts
from gr2_verl.sid.synthetic import clustered_embeddings
from gr2_verl.types import Item, SidMap

FAST = {"steps": 300, "batch_size": 256, "warmup_steps": 60}


@pytest.fixture(scope="module")
def ml100k_texts() -> dict[str, str]:
    """MovieLens-100K titles + genres, read in place from the recbole wheel (its licence forbids copies)."""
    root = Path(importlib.util.find_spec("recbole").origin).parent / "dataset_example" / "ml-100k"
    lines = (root / "ml-100k.item").read_text(encoding="utf-8").splitlines()[1:]
    rows = [line.split("\t") for line in lines]
    return {r[0]: Item(r[0], f"{r[1]} ({r[2]})", tuple(r[3].split())).text() for r in rows}


def test_embeddings_are_cached_unit_rows(tmp_path):
    texts = ["Toy Story (1995) | Animation", "GoldenEye (1995) | Action"]
    first = embed_texts(texts, cache_dir=tmp_path)
    assert first.shape == (2, 384) and np.allclose(np.linalg.norm(first, axis=1), 1, atol=1e-5)
    assert len(list(tmp_path.glob("*.npy"))) == 1
    assert np.array_equal(embed_texts(texts, cache_dir=tmp_path), first)
    embed_texts(texts[::-1], cache_dir=tmp_path)  # order is part of the key: rows follow the texts
    assert len(list(tmp_path.glob("*.npy"))) == 2


def test_ml100k_titles_get_unique_sids(ml100k_texts, tmp_path):
    sid_map, report = fit_sid_map(ml100k_texts, seed=0, cache_dir=str(tmp_path), **FAST)
    assert isinstance(sid_map, SidMap) and (sid_map.levels, sid_map.codebook_size) == (4, 256)
    assert set(sid_map.codes) == set(ml100k_texts)
    assert sid_map.uniqueness() == report["uniqueness"] >= 0.999
    assert sid_map.sid("1").startswith("<|sid_begin|><s_a_")
    assert report["embed_model"].endswith("model") and report["items"] == len(ml100k_texts)


def test_fit_sid_map_checks_embedding_rows():
    with pytest.raises(ValueError, match="3 rows for 2 items"):
        fit_sid_map({"a": "x", "b": "y"}, embeddings=np.zeros((3, 8), dtype=np.float32))


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"item_id": "1", "title": "A"', "not valid JSON"),  # truncated row
        ('{"item_id": "1"}', "field 'title' is missing"),
        ('{"item_id": "1", "title": "A", "categories": 5}', "field 'categories' must be a list"),  # a number
        ('["1", "A"]', "expected a JSON object"),
    ],
)
def test_bad_items_file_names_line_and_field(tmp_path, line, message):
    path = tmp_path / "items.jsonl"
    path.write_text('{"item_id": "0", "title": "ok"}\n' + line + "\n")
    with pytest.raises(ValueError, match=rf"items.jsonl: line 2: .*{message}"):
        read_item_texts(str(path))


def test_duplicate_item_id_is_an_error(tmp_path):
    path = tmp_path / "items.jsonl"
    path.write_text('{"item_id": "7", "title": "a"}\n{"item_id": "7", "title": "b"}\n')
    with pytest.raises(ValueError, match="items.jsonl: line 2: field 'item_id': '7' appears twice"):
        read_item_texts(str(path))


def test_load_embeddings_checks_shape(tmp_path):
    path = tmp_path / "e.npy"
    np.save(path, np.zeros((3, 4), dtype=np.float32))
    with pytest.raises(ValueError, match=r"e.npy: embeddings have shape \(3, 4\), need \[5, dim\]"):
        load_embeddings(path, list("abcde"))


def test_parquet_embeddings_are_keyed_by_item_id(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    emb = np.arange(12, dtype=np.float32).reshape(4, 3)
    ids = ["a", "b", "c", "d"]
    path = tmp_path / "e.parquet"
    shuffled = [2, 0, 3, 1]  # rows in another order, over several row groups
    pq.write_table(pa.table({"item_id": [ids[k] for k in shuffled], "embedding": [emb[k].tolist() for k in shuffled]}),
                   path, row_group_size=1)
    assert np.array_equal(load_embeddings(path, ids), emb)
    with pytest.raises(ValueError, match=r"e.parquet: row 0: item_id 'c' is not in the items file"):
        load_embeddings(path, ["a", "b", "d"])
    with pytest.raises(ValueError, match=r"e.parquet: 1 item\(s\) of the items file have no embedding row "
                                         r"\(first: 'e'\)"):
        load_embeddings(path, [*ids, "e"])


def test_cli_fit_and_report(tmp_path, capsys):
    n = 400
    items = tmp_path / "items.jsonl"
    items.write_text("".join(json.dumps({"item_id": f"i{k}", "title": f"t{k}", "categories": ["c"]}) + "\n"
                             for k in range(n)))
    emb = tmp_path / "emb.npy"
    np.save(emb, clustered_embeddings(n, 32, topics=4, subtopics=4))
    out = tmp_path / "sid"
    argv = ["sid", "fit", "--items", str(items), "--embeddings", str(emb), "--out", str(out),
            "--set", "steps=40", "--set", "batch_size=64", "--set", "warmup_steps=10", "--set", "hidden=[32]",
            "--set", "levels=3", "--set", "codebook_size=16"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    for name in ("sid_map.json", "sids.jsonl", "sid_quantizer.pt", "sid_report.json", "sid_report.md"):
        assert f"wrote {out / name}" in printed
    sid_map = SidMap.load(str(out / "sid_map.json"))
    rows = [json.loads(line) for line in (out / "sids.jsonl").read_text().splitlines()]
    assert [r["item_id"] for r in rows] == [f"i{k}" for k in range(n)]
    assert all(r["sid"] == sid_map.sid(r["item_id"]) and tuple(r["codes"]) == sid_map.codes[r["item_id"]] for r in rows)
    report = json.loads((out / "sid_report.json").read_text())
    assert report["config"]["levels"] == 3 and report["uniqueness"] == sid_map.uniqueness()

    assert main(["sid", "report", str(out / "sid_map.json"), "--out", str(tmp_path / "r.json")]) == 0
    again = json.loads((tmp_path / "r.json").read_text())
    assert again["uniqueness"] == report["uniqueness"] and again["per_level"] == report["per_level"]
