"""k-core, stable chronological order, leave-one-out split."""

from __future__ import annotations

import numpy as np
import pandas as pd

from data_prep.interactions import (
    CodedLog,
    Ragged,
    item_popularity,
    k_core,
    leave_one_out,
    training_lengths,
    user_sequences,
)


def _log(rows):
    return CodedLog.from_frame(pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]))


def _sequences(log: CodedLog) -> dict[str, list[str]]:
    seqs = user_sequences(log).items
    return {log.user_ids[u]: log.item_ids[seqs.row(u)].tolist() for u in range(len(seqs))}


def test_k_core_iterates_to_a_fixed_point():
    # u3 has 1 item; dropping u3 leaves item "c" with 1 interaction, which then drops too
    log = _log(
        [
            ("u1", "a", 1),
            ("u1", "b", 2),
            ("u1", "c", 3),
            ("u2", "a", 1),
            ("u2", "b", 2),
            ("u3", "c", 1),
            ("u4", "a", 1),
            ("u4", "b", 2),
        ]
    )
    out = k_core(log, 2)
    assert out.item_ids.tolist() == ["a", "b"]
    assert out.user_ids.tolist() == ["u1", "u2", "u4"]
    assert (pd.Series(out.users).value_counts() >= 2).all() and (pd.Series(out.items).value_counts() >= 2).all()


def test_equal_timestamps_keep_file_order():
    # ML-100K rates batches in one second: ties must keep the log's order, whatever the item ids
    rows = [("u", "z", 5), ("u", "b", 5), ("u", "a", 1), ("u", "m", 5), ("v", "x", 2), ("v", "y", 1)]
    assert _sequences(_log(rows)) == {"u": ["a", "z", "b", "m"], "v": ["y", "x"]}
    shuffled_users = [rows[i] for i in (4, 0, 5, 1, 2, 3)]
    assert _sequences(_log(shuffled_users)) == _sequences(_log(rows))


def test_leave_one_out_positions():
    log = _log([("u", x, t) for t, x in enumerate("abcde")] + [("short", "x", 0), ("short", "y", 1)])
    seqs = user_sequences(log)
    every = leave_one_out(seqs)
    examples = every.rows(0, len(every))
    u = log.user_ids.tolist().index("u")
    assert examples.users.tolist() == [u] * 4
    assert examples.positions.tolist() == [1, 2, 3, 4]
    assert examples.split_names().tolist() == ["train", "train", "val", "test"]
    train = seqs.items.prefixes(training_lengths(seqs))
    assert log.item_ids[train.row(u)].tolist() == ["a", "b", "c"]  # no validation or test target
    assert item_popularity(train, len(log.item_ids)).tolist() == [1, 1, 1, 0, 0, 0, 0]  # a..e, x, y: "short" has 2


def test_ragged_rows():
    r = Ragged.from_rows([[1, 2, 3], [], [4]])
    assert r.flat().tolist() == [1, 2, 3, 4] and r.row(2).tolist() == [4]
    assert r.suffixes(2).flat().tolist() == [2, 3, 4] and r.take([2, 0]).flat().tolist() == [4, 1, 2, 3]


def test_flat_gathers_in_blocks_the_same_values(monkeypatch):
    """``flat`` gathers a block of rows at a time (bounded index arrays): the same values in any block size."""
    import data_prep.interactions as interactions

    rng = np.random.default_rng(0)
    values = rng.integers(0, 100, 300).astype(np.int32)
    lengths = rng.integers(0, 7, 40)
    ragged = Ragged(values, rng.integers(0, 290, 40), lengths)
    expected = np.concatenate([values[s : s + n] for s, n in zip(ragged.starts, lengths, strict=True)])
    for size in (1, 3, 1000):
        monkeypatch.setattr(interactions, "FLAT_VALUES", size)
        assert ragged.flat().dtype == np.int32 and ragged.flat().tolist() == expected.tolist()


def _ragged_log(seed: int):
    """A log whose users have 1 to 8 items (some too short to give an example), ties in time included."""
    rng = np.random.default_rng(seed)
    rows = [(f"u{u:02d}", f"i{rng.integers(0, 30)}", int(rng.integers(0, 5)))
            for u in range(25) for _ in range(rng.integers(1, 9))]  # fmt: skip
    return _log(rows)


def test_examples_made_for_any_range_are_those_of_the_whole_split():
    """``ExampleSplits`` keeps one split code per interaction; the examples it makes for any range (users with
    no example in between, ranges inside a user) are that range of the examples made all at once, and runs
    never split a user."""
    from data_prep.interactions import time_split

    log = _ragged_log(0)
    seqs = user_sequences(log)
    for every in (leave_one_out(seqs), time_split(seqs, log.timestamps, 2, 4)[0]):
        whole = every.rows(0, len(every))
        assert len(whole) == len(every) > 20 and (np.diff(whole.users) >= 0).all()
        assert (whole.positions >= 1).all() and (whole.positions < seqs.items.lengths[whole.users]).all()
        for a in range(len(every) + 1):
            for b in range(a, len(every) + 2, 3):
                part = every.rows(a, b)
                assert part.users.tolist() == whole.users[a:b].tolist()
                assert part.positions.tolist() == whole.positions[a:b].tolist()
                assert part.splits.tolist() == whole.splits[a:b].tolist()
        bounds = every.runs(7)
        assert bounds[0] == 0 and bounds[-1] == len(every) and len(bounds) > 3
        assert all(whole.users[b - 1] != whole.users[b] for b in bounds[1:-1])
        assert every.runs(7) == whole.runs(7)
        counts = np.bincount(whole.splits, minlength=3)
        assert every.split_counts() == dict(zip(("train", "val", "test"), counts.tolist(), strict=True))
    timed = time_split(seqs, log.timestamps, 2, 4)[0].rows(0, 10**6)
    assert len(timed) == np.maximum(seqs.items.lengths - 1, 0).sum()  # every position from the second on
    stamps = log.timestamps[seqs.rows[seqs.items.starts[timed.users] + timed.positions]]
    assert timed.splits.tolist() == np.where(stamps < 2, 0, np.where(stamps < 4, 1, 2)).tolist()
    loo = leave_one_out(seqs).rows(0, 10**6)
    n = seqs.items.lengths[loo.users]
    assert loo.split_names().tolist() == ["test" if p == m - 1 else "val" if p == m - 2 else "train"
                                          for p, m in zip(loo.positions, n, strict=True)]  # fmt: skip
