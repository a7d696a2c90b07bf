"""Mid-training rows: next-SID from training samples only, captioning both ways, general text mixed in."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from data_prep.rl_parquet import catalogue
from data_prep.sample_table import SampleShards, SampleTable
from data_prep.sft_parquet import load_general_text, midtrain_chunks
from data_prep.synthetic import sequential_sid_map
from gr2_verl.types import Item, RerankSample


def midtrain_rows(samples, items, sid_map, *, seed, general, chunk_rows=2):
    """All rows (built two at a time, so chunking is exercised too) and the counts."""
    table = SampleTable.from_samples(samples, list(items))
    cat = catalogue(items, sid_map, {}, table.item_ids)
    counts, chunks = midtrain_chunks(SampleShards.of(table), cat, seed=seed, general=general, chunk_rows=chunk_rows)
    return pa.concat_tables(list(chunks)).to_pylist(), counts


def _world():
    items = {i: Item(i, f"Title {i}", ("Cat",)) for i in "abcdef"}
    samples = [
        RerankSample("u:1", "u", "train", ["a"], list("bcdef"), ["b"]),
        RerankSample("u:2", "u", "val", ["a", "b"], list("cdefa"), ["c"]),
        RerankSample("u:3", "u", "test", ["a", "b", "c"], list("defab"), ["d"]),
    ]
    return items, samples, sequential_sid_map(list(items), levels=2, codebook_size=4)


def test_tasks_and_no_eval_target_leak():
    items, samples, sid_map = _world()
    general = [
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}], "task": "general"}
    ]
    rows, counts = midtrain_rows(samples, items, sid_map, seed=0, general=general)
    assert counts == {"next_sid": 1, "sid_to_text": 6, "text_to_sid": 6, "general": 1, "sid_to_text_skipped": 0}
    (next_sid,) = [r for r in rows if r["task"] == "next_sid"]
    assert next_sid["messages"][-1]["content"] == sid_map.sid("b")  # the train target, never c or d
    caption = next(r for r in rows if r["task"] == "sid_to_text" and sid_map.sid("a") in r["messages"][0]["content"])
    assert caption["messages"][1]["content"] == "Title a | Cat"
    assert midtrain_rows(samples, items, sid_map, seed=0, general=general)[0] == rows  # seeded order
    assert midtrain_rows(samples, items, sid_map, seed=0, general=general, chunk_rows=1000)[0] == rows  # any chunks


def test_shards_with_arrays_of_their_own_give_the_rows_of_one_table():
    """Shards whose histories sit in separate arrays (not one shared sequence array) are copied into one: the
    same rows as one table."""
    items, samples, sid_map = _world()
    samples = samples + [RerankSample(f"v:{n}", "v", "train", list("abc")[:n], list("bcdef"), ["e"]) for n in (1, 2)]
    whole = SampleTable.from_samples(samples, list(items))
    tables = [SampleTable.from_samples(samples[:3], list(items)), SampleTable.from_samples(samples[3:], list(items))]
    cat = catalogue(items, sid_map, {}, whole.item_ids)
    apart = SampleShards(whole.item_ids, (3, 2), lambda s: tables[s])
    one = midtrain_chunks(SampleShards.of(whole), cat, seed=1, chunk_rows=3)[1]
    two = midtrain_chunks(apart, cat, seed=1, chunk_rows=3)[1]
    rows = pa.concat_tables(list(one)).to_pylist()
    assert rows == pa.concat_tables(list(two)).to_pylist()
    assert sum(r["task"] == "next_sid" for r in rows) == 3


def test_shards_over_one_sequence_array_keep_their_histories_in_small_types():
    """Shards sharing one sequence array keep history starts and lengths in the smallest type that holds a shard's
    values (uint8 to int32); shards of different types give the same rows as one table with int64 arrays."""
    import numpy as np

    from data_prep.interactions import Ragged
    from data_prep.sft_parquet import _training

    items, _, sid_map = _world()
    values = np.arange(70_000) % 6  # one shared "sequence array"
    # (first history start, history length) per shard: uint8/uint8, uint16/uint16, int32/uint8
    plan = [(3, 2), (200, 300), (69_000, 5)]

    def table(shards):
        starts = np.array([a for a, _ in shards], dtype=np.int64)
        lengths = np.array([n for _, n in shards], dtype=np.int64)
        n = len(shards)
        return SampleTable(
            item_ids=np.array(list(items), dtype=object),
            sample_ids=pa.array([f"u:{a}" for a, _ in shards]),
            user_ids=pa.array(["u"] * n),
            splits=np.zeros(n, dtype=np.int8),
            histories=Ragged(values, starts, lengths),
            candidates=np.tile(np.arange(5, dtype=np.int32), (n, 1)),
            targets=Ragged(values, starts + lengths, np.ones(n, dtype=np.int64)),
        )

    tables = [table([shard]) for shard in plan]
    apart = SampleShards(tables[0].item_ids, (1, 1, 1), lambda s: tables[s])
    training = _training(apart)
    assert training.values is values and training.starts.dtype == np.int32 and training.lengths.dtype == np.uint16
    assert [t.histories.starts.dtype for t in tables] == [np.int64] * 3
    assert [np.asarray(training.histories(np.array([s])).row(0)).tolist() for s in range(3)] == [
        values[a : a + n].tolist() for a, n in plan
    ]
    cat = catalogue(items, sid_map, {}, tables[0].item_ids)
    one = midtrain_chunks(SampleShards.of(table(plan)), cat, seed=2, chunk_rows=4)[1]
    three = midtrain_chunks(apart, cat, seed=2)[1]
    assert pa.concat_tables(list(one)).to_pylist() == pa.concat_tables(list(three)).to_pylist()


@pytest.mark.parametrize(
    "line, message",
    [
        ("{oops", "line 2: not valid JSON"),
        ('{"text": "no messages"}', "line 2: field 'messages'"),
        ('{"messages": [{"role": "robot", "content": "x"}]}', r"line 2: field 'messages\[0\]'"),
        ('{"messages": [{"role": "user", "content": 3}]}', r"line 2: field 'messages\[0\]'"),
    ],
)
def test_general_text_errors_name_file_line_field(tmp_path, line, message):
    path = tmp_path / "general.jsonl"
    good = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    path.write_text(json.dumps(good) + "\n" + line + "\n")
    with pytest.raises(ValueError, match=message) as e:
        load_general_text(path)
    assert "general.jsonl" in str(e.value)
