"""Your own logs as they really look: candidate lists keyed by what the user has, graded slates, gzip, BOMs,
``Z`` timestamps, repeated events, event types, item templates, and no silent emptiness."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from data_prep import custom
from data_prep.interactions import CodedLog, drop_repeats
from data_prep.pipeline import GivenLists, build_samples, split_log
from data_prep.synthetic import sequential_sid_map, synthetic_log
from gr2_verl.cli.main import main

K = 10


@pytest.fixture()
def shop(tmp_path):
    """A log with request ids and event types, its items, a SID map, and the test examples' lists."""
    log, items = synthetic_log(30, 40, 8, seed=2)
    log["request_id"] = [f"r{n}" for n in range(len(log))]
    log["event"] = ["purchase" if n % 4 == 0 else "click" for n in range(len(log))]
    log.to_csv(tmp_path / "log.csv", index=False)
    with open(tmp_path / "items.jsonl", "w") as f:
        for item in items.values():
            f.write(json.dumps({"item_id": item.item_id, "title": item.title, "brand": "Acme"}) + "\n")
    sequential_sid_map(list(items), levels=3, codebook_size=16).save(str(tmp_path / "sids.json"))
    return tmp_path, log, items


@dataclass(frozen=True)
class Example:
    user_id: str
    split: str
    position: int

    @property
    def sample_id(self) -> str:
        return f"{self.user_id}:{self.position}"


def _views(log, min_interactions=3, split_at=None):
    """The k-core log's user -> items, user -> timestamps, user -> request ids, and its examples, as plain Python."""
    filtered, seqs, every, _ = split_log(CodedLog.from_frame(log), min_interactions, split_at)
    examples = every.rows(0, len(every))
    users, rows = filtered.user_ids, seqs.rows
    requests = filtered.request_ids.to_pylist() if filtered.request_ids is not None else [None] * len(filtered)

    def per_user(values):
        spans = zip(seqs.items.starts.tolist(), seqs.items.lengths.tolist(), strict=True)
        return {users[u]: [values[r] for r in rows[a : a + n]] for u, (a, n) in enumerate(spans)}

    items = {users[u]: filtered.item_ids[seqs.items.row(u)].tolist() for u in range(len(users))}
    stamps, reqs = per_user(filtered.timestamps.tolist()), per_user(requests)
    names, positions = examples.split_names(), examples.positions.tolist()
    listed = [Example(users[u], names[n], positions[n]) for n, u in enumerate(examples.users.tolist())]
    return filtered, items, stamps, reqs, listed


def _test_lists(log, min_interactions=3):
    """(example, its target item, timestamp, request id, a 10-item list with the target 3rd) per test example."""
    filtered, seqs, stamps, requests, examples = _views(log, min_interactions)
    catalogue = filtered.item_ids.tolist()
    out = []
    for ex in examples:
        if ex.split != "test":
            continue
        target = seqs[ex.user_id][ex.position]
        others = [i for i in catalogue if i != target and i not in seqs[ex.user_id]][: K - 1]
        out.append((ex, target, stamps[ex.user_id][ex.position], requests[ex.user_id][ex.position],
                    others[:2] + [target] + others[2:]))  # fmt: skip
    return out


def _keyed(lists, key):
    by = {
        "sample_id": lambda ex, t, ts, r: ex.sample_id,
        "request_id": lambda ex, t, ts, r: r,
        "user_id+timestamp": lambda ex, t, ts, r: (ex.user_id, int(ts)),
        "user_id+item_id": lambda ex, t, ts, r: (ex.user_id, t),
    }[key]
    return GivenLists(key, {by(ex, t, ts, r): cands for ex, t, ts, r, cands in lists})


@pytest.mark.parametrize("key", ["request_id", "user_id+timestamp", "user_id+item_id"])
def test_every_key_form_gives_the_same_samples(shop, key):
    _, log, _ = shop
    lists = _test_lists(log)
    reference = build_samples(log, min_interactions=3, given=_keyed(lists, "sample_id")).samples
    samples = build_samples(log, min_interactions=3, given=_keyed(lists, key)).samples
    assert [s.to_dict() for s in samples] == [s.to_dict() for s in reference] and len(samples) == len(lists)


def test_every_drop_and_cut_is_counted_with_examples(shop):
    _, log, _ = shop
    lists = _test_lists(log)
    given = _keyed(lists, "sample_id")
    (ex0, *_), (ex1, *_), (ex2, *_), (ex3, t3, *_) = lists[:4]
    given.lists[ex0.sample_id] = given.lists[ex0.sample_id][:5]  # short list: dropped
    given.lists[ex1.sample_id] = ["nope", *given.lists[ex1.sample_id][1:]]  # unknown item: dropped
    given.lists[ex2.sample_id] = given.lists[ex2.sample_id] + ["i0", "i1"]  # 12 items: cut to 10
    given.lists[ex3.sample_id] = [x for x in given.lists[ex3.sample_id] if x != t3] + ["i39"]  # target missing
    given.lists["ghost:9"] = given.lists[ex2.sample_id]  # a key no sample has
    report = build_samples(log, min_interactions=3, given=given).report["given"]
    assert (report["short_list"], report["unknown_items"], report["truncated_to_k"]) == (1, 1, 1)
    assert report["target_not_in_list"] >= 1 and report["lists_matching_no_sample"] == 1
    assert report["examples"]["short_list"] == [f"{ex0.sample_id} (5 items)"]
    assert report["examples"]["unknown_items"] == [f"{ex1.sample_id} (nope)"]
    assert report["examples"]["lists_matching_no_sample"] == ["ghost:9"]
    assert report["no_list"] > 0  # training and validation examples: no list given for them


def test_labels_make_several_graded_positives(shop):
    _, log, _ = shop
    lists = _test_lists(log)
    given = _keyed(lists, "request_id")
    # click < add-to-cart < purchase as grades 1 < 2 < 3; the rest 0
    given.labels = {key: [0, 1, 0, 3, 0, 0, 2, 0, 0, 0] for key in given.lists}
    sample = build_samples(log, min_interactions=3, given=given).samples[0]
    assert sample.targets == [sample.candidates[3], sample.candidates[6], sample.candidates[1]]  # best grade first
    assert sample.grades == [0, 1, 0, 3, 0, 0, 2, 0, 0, 0]


@pytest.mark.parametrize(
    "rows, message",
    [
        # the trial: keyed like u0-1 instead of u0:1 -> used to write three 0-row parquet files
        ([{"sample_id": "u0-7", "candidates": ["i1", "i2"]}], "no candidate list matches a sample. Lists are keyed "
                                                             "by sample_id, e.g. u0-7; the samples' keys look like"),
        ([{"request_id": "x9", "candidates": ["i1"]}], "no candidate list matches a sample"),
        ([{"user": "u0", "candidates": ["i1"]}], "no key field: a candidate list needs 'candidates' and one key"),
    ],
)
def test_lists_matching_nothing_fail_naming_the_format(shop, capsys, rows, message):
    root, _, _ = shop
    (root / "c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    code = main(["prepare", "custom", "--interactions", f"{root}/log.csv", "--items", f"{root}/items.jsonl",
                 "--candidates", f"{root}/c.jsonl", "--sid-map", f"{root}/sids.json", "--out", f"{root}/out",
                 "--k-core", "3"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1 and message in err and f"{root}/c.jsonl" in err
    assert not (root / "out").exists()


def test_comma_joined_list_is_refused(tmp_path):
    (tmp_path / "c.csv").write_text('sample_id,candidates\nu0:7,"i1,i2,i3"\n')
    with pytest.raises(ValueError, match=r"c.csv: line 2: field 'candidates' looks comma-joined .* join with '\|'"):
        custom.load_candidates(tmp_path / "c.csv")


def test_cli_prints_what_the_lists_did(shop, capsys):
    root, log, _ = shop
    lists = _test_lists(log)
    with open(root / "c.csv", "w") as f:  # keyed by request id, '|'-joined, the first list 12 long
        f.write("request_id,candidates\n")
        for n, (_, _, _, request, cands) in enumerate(lists):
            f.write(f"{request},{'|'.join(cands + (['i0', 'i1'] if n == 0 else []))}\n")
    code = main(["prepare", "custom", "--interactions", f"{root}/log.csv", "--items", f"{root}/items.jsonl",
                 "--candidates", f"{root}/c.csv", "--sid-map", f"{root}/sids.json", "--out", f"{root}/out",
                 "--k-core", "3", "--item-text", "{title} by {brand}"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert f"candidate lists (request_id): {len(lists)} of {len(lists)} matched a sample" in out
    assert f"1 lists longer than --k: cut to the first K; e.g. {lists[0][3]} (12 items)" in out
    assert "samples without a list: left out" in out
    assert "by Acme" in (root / "out" / "items.jsonl").read_text()  # the template reached the catalogue


def test_events_and_repeats(shop):
    root, log, items = shop
    purchases = custom.load_interactions(root / "log.csv", items, events={"purchase"})
    assert len(purchases) == (log["event"] == "purchase").sum()
    with pytest.raises(ValueError, match="no interactions with event in \\['return'\\]"):
        custom.load_interactions(root / "log.csv", items, events={"return"})
    twice = pd.DataFrame({"user_id": ["u", "u", "u", "v"], "item_id": ["a", "b", "a", "a"], "timestamp": [3, 1, 2, 1]})
    # the repeat kept is the oldest (t=2), in row order: a 500-row duplicate burst becomes one event
    kept = drop_repeats(CodedLog.from_frame(twice))
    assert kept.user_ids[kept.users].tolist() == ["u", "u", "v"]
    assert kept.item_ids[kept.items].tolist() == ["b", "a", "a"] and kept.timestamps.tolist() == [1, 2, 1]


def test_repeats_found_in_blocks_of_users_are_the_same(monkeypatch):
    """``drop_repeats`` sorts a few whole users at a time (bounded scratch memory): the same rows kept as in one
    block, on a log with many repeats and equal timestamps."""
    import data_prep.interactions as interactions

    rng = np.random.default_rng(5)
    rows = 3000
    log = CodedLog.from_frame(pd.DataFrame({"user_id": rng.integers(0, 60, rows).astype(str),
                                            "item_id": rng.integers(0, 40, rows).astype(str),
                                            "timestamp": rng.integers(0, 20, rows)}))  # fmt: skip
    one = drop_repeats(log)
    monkeypatch.setattr(interactions, "REPEAT_ROWS", 100)  # ~30 blocks
    blocks = drop_repeats(log)
    assert 60 * 20 < len(one) < rows  # many repeats dropped
    for field in ("users", "items", "timestamps"):
        assert getattr(one, field).tolist() == getattr(blocks, field).tolist()
    pairs = set(zip(one.users.tolist(), one.items.tolist(), strict=True))
    assert len(pairs) == len(one)  # no pair twice


@pytest.mark.parametrize(
    "value, seconds",
    [
        ("2024-01-02T00:00:00Z", 1704153600),  # 'Z': not parsed by Python 3.10's fromisoformat on its own
        ("2024-01-02T00:00:00+00:00", 1704153600),
        ("2024-01-02T01:00:00+01:00", 1704153600),
        ("2024-01-02T00:00:00", 1704153600),  # naive: UTC, whatever the machine's zone
        ("2024-01-02", 1704153600),
        ("1704153600", 1704153600),
        (1704153600.7, 1704153600),
    ],
)
def test_timestamps(value, seconds):
    assert custom.timestamp("x", value) == seconds


def test_gzip_and_byte_order_mark_read_like_plain_files(tmp_path):
    text = "user_id,item_id,timestamp\nu1,a,3\nu1,b,2024-01-02T00:00:00Z\n"
    (tmp_path / "log.csv").write_text(text)
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbf" + text.encode())  # Excel's "CSV UTF-8"
    with gzip.open(tmp_path / "log.csv.gz", "wt") as f:
        f.write(text)
    with gzip.open(tmp_path / "log.jsonl.gz", "wt") as f:
        f.write('{"user_id": "u1", "item_id": "a", "timestamp": 3}\n')
        f.write('{"user_id": "u1", "item_id": "b", "timestamp": "2024-01-02T00:00:00Z"}\n')
    logs = [custom.load_interactions(tmp_path / n).to_dict("list") for n in ("log.csv", "bom.csv", "log.csv.gz",
                                                                              "log.jsonl.gz")]  # fmt: skip
    assert logs[0] == logs[1] == logs[2] == logs[3] and logs[0]["timestamp"] == [3, 1704153600]


def test_item_template_reaches_every_column(tmp_path):
    (tmp_path / "items.csv").write_text("item_id,title,brand,price\na,Kettle,Acme,20\nb,Mug,,5\n")
    items = custom.load_items(tmp_path / "items.csv", "{title} ({brand}, {price} EUR)")
    assert items["a"].title == "Kettle (Acme, 20 EUR)" and items["b"].title == "Mug (, 5 EUR)"
    assert custom.load_items(tmp_path / "items.csv")["a"].text() == "Kettle"  # no template: the title, unchanged
    with pytest.raises(ValueError, match="items.csv: line 2: the item template names field 'colour'"):
        custom.load_items(tmp_path / "items.csv", "{title} {colour}")


def test_time_split_puts_each_target_by_its_time_and_fits_on_the_past_only(shop):
    _, log, _ = shop
    val_start, test_start = 1_000_000 + 5 * 60, 1_000_000 + 6 * 60  # minutes 5 and 6 of every user's 8
    prepared = build_samples(log, min_interactions=3, split_at=(val_start, test_start))
    filtered, seqs, stamps, _, _ = _views(log, 3)
    for s in prepared.samples:
        t = stamps[s.user_id][int(s.sample_id.rsplit(":", 1)[1])]
        assert s.split == ("train" if t < val_start else "val" if t < test_start else "test"), s.sample_id
    assert {s.split for s in prepared.samples} == {"train", "val", "test"}
    past = pd.Series(filtered.item_ids[filtered.items[filtered.timestamps < val_start]]).value_counts().to_dict()
    assert prepared.popularity == past  # nothing from the validation or test period
    assert sum(len(v) for v in seqs.values()) == len(filtered)
    with pytest.raises(ValueError, match="--split-at: the validation start"):
        build_samples(log, min_interactions=3, split_at=(test_start, val_start))


@pytest.mark.parametrize("with_lists", [False, True])
def test_check_validates_and_writes_nothing(shop, capsys, with_lists):
    root, log, _ = shop
    args = ["prepare", "custom", "--interactions", f"{root}/log.csv", "--items", f"{root}/items.jsonl",
            "--sid-map", f"{root}/sids.json", "--out", f"{root}/out", "--k-core", "3", "--check"]  # fmt: skip
    if with_lists:
        with open(root / "c.jsonl", "w") as f:
            for ex, *_, cands in _test_lists(log):
                f.write(json.dumps({"sample_id": ex.sample_id, "candidates": cands}) + "\n")
        args += ["--candidates", f"{root}/c.jsonl"]
    assert main(args) == 0
    assert "check ok: " in capsys.readouterr().out and not (root / "out").exists()
    sids = json.loads((root / "sids.json").read_text())
    del sids["codes"]["i1"]
    (root / "sids.json").write_text(json.dumps(sids))
    assert main(args) == 1 and "catalogue items have no SID" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["log.csv", "log.csv.gz", "log.parquet", "log.jsonl", "log.jsonl.gz"])
def test_streamed_log_equals_the_row_by_row_reader(shop, monkeypatch, name):
    """Many small blocks (and the progress bar across them) give the log the row-by-row reader gives."""
    root, log, items = shop
    if name == "log.csv.gz":
        (root / name).write_bytes(gzip.compress((root / "log.csv").read_bytes()))
    elif name == "log.parquet":
        log.to_parquet(root / name, row_group_size=50)
    elif name.startswith("log.jsonl"):
        text = log.to_json(orient="records", lines=True)
        (root / name).write_bytes(gzip.compress(text.encode()) if name.endswith(".gz") else text.encode())
    reference = CodedLog.from_frame(custom.load_interactions(root / name, items))
    monkeypatch.setattr(custom, "CSV_BLOCK", 1024)
    monkeypatch.setattr(custom, "load_interactions", None)  # no fallback: the streaming path itself
    streamed = custom.load_coded_interactions(root / name, items, progress=True)
    for field in ("user_ids", "item_ids", "users", "items", "timestamps"):
        assert getattr(streamed, field).tolist() == getattr(reference, field).tolist(), field
    assert streamed.request_ids.to_pylist() == reference.request_ids.to_pylist()
