"""``gr2 sid assign``: new items get unique SIDs, existing items never change, errors name file and row."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gr2_verl.cli.main import main
from gr2_verl.sid import assign as sid_assign
from gr2_verl.sid import fit_codes
from gr2_verl.sid.synthetic import clustered_embeddings
from gr2_verl.sid.unique import unique_codes
from gr2_verl.types import SidMap

N_OLD, N_NEW, DIM = 300, 200, 16
FIT = ["--set", "steps=30", "--set", "batch_size=64", "--set", "warmup_steps=5", "--set", "hidden=[16]",
       "--set", "levels=3", "--set", "codebook_size=16"]  # 4096 SIDs, 16 per prefix: skewed clusters overflow


def write_items(path, ids):
    path.write_text("".join(json.dumps({"item_id": i, "title": f"t {i}", "categories": ["c"]}) + "\n" for i in ids))
    return path


def write_parquet(path, ids, emb, row_group_size=64):
    table = pa.table({"item_id": ids, "embedding": [row.tolist() for row in emb]})
    pq.write_table(table, path, row_group_size=row_group_size)
    return path


@pytest.fixture(scope="module")
def fitted_once(tmp_path_factory):
    """A SID folder fitted on 300 items, and embeddings for them plus 200 new ones of the same clusters."""
    tmp = tmp_path_factory.mktemp("fit")
    emb = clustered_embeddings(N_OLD + N_NEW, DIM, topics=3, subtopics=3, near_duplicates=0.2)
    old = [f"i{k}" for k in range(N_OLD)]
    new = [f"n{k}" for k in range(N_NEW)]
    np.save(tmp / "old.npy", emb[:N_OLD])
    argv = ["sid", "fit", "--items", str(write_items(tmp / "old.jsonl", old)), "--embeddings",
            str(tmp / "old.npy"), "--out", str(tmp / "sid"), *FIT]
    assert main(argv) == 0
    return tmp / "sid", old, new, emb


@pytest.fixture()
def fitted(fitted_once, tmp_path):
    """A fresh copy of the fitted folder per test (some tests grow it in place or break it)."""
    sid, old, new, emb = fitted_once
    shutil.copytree(sid, tmp_path / "sid")
    return tmp_path, old, new, emb


def test_assign_keeps_existing_codes_and_adds_unique_ones(fitted, capsys):
    tmp, old, new, emb = fitted
    before = SidMap.load(str(tmp / "sid" / "sid_map.json"))
    # the grown catalogue lists old and new items, interleaved; parquet rows in another order than the items
    ids = [i for pair in zip(old[:N_NEW], new, strict=True) for i in pair] + old[N_NEW:]
    vectors = dict(zip(old + new, emb, strict=True))
    order = sorted(ids, reverse=True)
    write_parquet(tmp / "all.parquet", order, np.stack([vectors[i] for i in order]))
    argv = ["sid", "assign", "--sid-dir", str(tmp / "sid"), "--items", str(write_items(tmp / "all.jsonl", ids)),
            "--embeddings", str(tmp / "all.parquet"), "--out", str(tmp / "grown")]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert f"{N_NEW} new items got SIDs, {N_OLD} kept theirs" in printed
    grown = SidMap.load(str(tmp / "grown" / "sid_map.json"))
    assert all(grown.codes[i] == before.codes[i] for i in old)  # a production model keeps its vocabulary
    assert set(grown.codes) == set(old) | set(new)
    assert before.uniqueness() == 1.0
    assert grown.uniqueness() == 1.0  # 500 items, overflow included
    report = json.loads((tmp / "grown" / "sid_report.json").read_text())
    assert report["new_item_collisions"]["items"] == 0 and report["added"] == N_NEW


def test_npy_embeddings_follow_items_file_order(fitted):
    tmp, old, new, emb = fitted
    np.save(tmp / "all.npy", emb)
    argv = ["sid", "assign", "--sid-dir", str(tmp / "sid"), "--items",
            str(write_items(tmp / "all.jsonl", old + new)), "--embeddings", str(tmp / "all.npy"),
            "--out", str(tmp / "sid")]  # in place: every file is replaced atomically
    assert main(argv) == 0
    grown = SidMap.load(str(tmp / "sid" / "sid_map.json"))
    assert len(grown.codes) == N_OLD + N_NEW and grown.uniqueness() == 1.0


def test_reserved_codes_are_never_taken():
    x = clustered_embeddings(2000, DIM, topics=8, subtopics=4, near_duplicates=0.3)  # no first code past 16 x 16
    quantizer = fit_codes(x[:500], seed=0, steps=30, batch_size=64, warmup_steps=5, hidden=[16], levels=3,
                          codebook_size=16).quantizer
    reserved = quantizer.assign(x[:500])
    new = quantizer.assign(x[500:], reserved=reserved)
    both = np.concatenate([reserved, new])
    assert len(np.unique(both, axis=0)) == len(both)  # 2000 items in 4096 SIDs, all distinct
    assert np.array_equal(new, quantizer.assign(x[500:], reserved=reserved))  # seeded


def test_drifted_new_items_escape_full_branches_and_keep_old_codes():
    """New items of one unseen topic pile past the C^2 SIDs of a level-0 branch: they escape, all distinct."""
    x = clustered_embeddings(500, DIM, topics=8, subtopics=4, near_duplicates=0.3)
    quantizer = fit_codes(x, seed=0, steps=30, batch_size=64, warmup_steps=5, hidden=[16], levels=3,
                          codebook_size=16).quantizer
    reserved = quantizer.assign(x)
    drifted = clustered_embeddings(1500, DIM, topics=1, subtopics=2, near_duplicates=0.3, seed=7)
    nearest, _ = quantizer.nearest_codes(iter([(slice(0, 1500), drifted)]), 1500)
    assert np.bincount(nearest[:, 0]).max() > 16**2  # more than one branch holds: siblings alone would collide
    new = quantizer.assign(drifted, reserved=reserved)
    both = np.concatenate([reserved, new])
    assert len(np.unique(both, axis=0)) == len(both)


def test_codes_do_not_depend_on_blocks_or_chunk_order(monkeypatch):
    """Rows arriving whole, or shuffled in index-array chunks through 256-row blocks, get the same codes."""
    x = clustered_embeddings(3000, DIM, topics=8, subtopics=4, near_duplicates=0.3)
    quantizer = fit_codes(x[:500], seed=0, steps=30, batch_size=64, warmup_steps=5, hidden=[16], levels=3,
                          codebook_size=16).quantizer
    codes, residual = quantizer.nearest_codes(iter([(slice(0, 3000), x)]), 3000)
    monkeypatch.setattr(sid_assign, "ASSIGN_BLOCK", 256)
    order = np.random.default_rng(0).permutation(3000)
    chunks = ((order[i : i + 700], x[order[i : i + 700]]) for i in range(0, 3000, 700))
    shuffled_codes, shuffled_residual = quantizer.nearest_codes(chunks, 3000)
    assert np.array_equal(codes, shuffled_codes) and np.array_equal(residual, shuffled_residual)


def test_overflow_moves_to_the_nearest_sibling_prefix():
    """C + 3 items all nearest to one prefix: 3 move to the sibling whose level-(L-2) code is next nearest."""
    c = 4
    books = np.zeros((2, c, 2), dtype=np.float32)
    books[0] = [[0, 0], [1, 0], [5, 5], [9, 9]]  # level-0 code 1 is the nearest sibling of code 0
    books[1] = [[0, 0], [0, 0.1], [0.1, 0], [0.1, 0.1]]
    codes = np.zeros((c + 3, 2), dtype=np.int64)
    residual = np.zeros((c + 3, 2), dtype=np.float32)
    out = unique_codes(codes, residual, books, seed=0)
    assert len(np.unique(out, axis=0)) == c + 3
    assert sorted(out[:, 0].tolist()) == [0] * c + [1] * 3


@pytest.mark.parametrize(
    "case, message",
    [
        ("parquet row unknown", r"all.parquet: row 0: item_id 'ghost' is not in the items file"),
        ("parquet lacks a new item", r"all.parquet: 1 item\(s\) of the items file have no embedding row "
                                     r"\(first: 'n0'\)"),
        ("parquet repeats an id", r"all.parquet: row 2: item_id 'n1' appears twice"),
        ("parquet NaN", r"all.parquet: row 2: embedding holds NaN"),
        ("wrong width", r"the quantiser was fitted on 16"),
        ("nothing new", r"all.jsonl: all 300 items already have a SID"),
        ("missing quantiser", r"sid_quantizer.pt: no such file"),
    ],
)
def test_assign_errors_name_file_and_row(fitted, capsys, case, message):
    tmp, old, new, emb = fitted
    ids, vectors, items = list(new), emb[N_OLD:].copy(), old + new
    if case == "parquet row unknown":
        ids[0] = "ghost"
    elif case == "parquet lacks a new item":
        ids, vectors = ids[1:], vectors[1:]
    elif case == "parquet repeats an id":
        ids[1] = "n1"
        ids[2] = "n1"
    elif case == "parquet NaN":
        vectors[2, 0] = np.nan
    elif case == "wrong width":
        vectors = np.ones((len(ids), 5), dtype=np.float32)
    elif case == "nothing new":
        items = old
    elif case == "missing quantiser":
        (tmp / "sid" / "sid_quantizer.pt").unlink()
    write_parquet(tmp / "all.parquet", ids, vectors)
    argv = ["sid", "assign", "--sid-dir", str(tmp / "sid"), "--items", str(write_items(tmp / "all.jsonl", items)),
            "--embeddings", str(tmp / "all.parquet"), "--out", str(tmp / "grown")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert re.search(message, err), err
    assert not (tmp / "grown" / "sid_map.json").exists()
