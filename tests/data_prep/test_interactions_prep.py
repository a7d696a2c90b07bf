"""k-core, stable chronological order, leave-one-out split."""

from __future__ import annotations

import pandas as pd

from data_prep.interactions import (
    Example,
    item_popularity,
    k_core,
    leave_one_out,
    training_sequences,
    user_sequences,
)


def _log(rows):
    return pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])


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
    assert set(out["item_id"]) == {"a", "b"}
    assert set(out["user_id"]) == {"u1", "u2", "u4"}
    assert (out.groupby("user_id").size() >= 2).all() and (out.groupby("item_id").size() >= 2).all()


def test_equal_timestamps_keep_file_order():
    # ML-100K rates batches in one second: ties must keep the log's order, whatever the item ids
    log = _log([("u", "z", 5), ("u", "b", 5), ("u", "a", 1), ("u", "m", 5), ("v", "x", 2), ("v", "y", 1)])
    assert user_sequences(log) == {"u": ["a", "z", "b", "m"], "v": ["y", "x"]}
    shuffled_users = log.iloc[[4, 0, 5, 1, 2, 3]]
    assert user_sequences(shuffled_users) == user_sequences(log)


def test_leave_one_out_positions():
    seqs = {"u": ["a", "b", "c", "d", "e"], "short": ["x", "y"]}
    examples = leave_one_out(seqs)
    assert examples == [
        Example("u", "train", 1),
        Example("u", "train", 2),
        Example("u", "val", 3),
        Example("u", "test", 4),
    ]
    assert examples[-1].sample_id == "u:4"
    assert training_sequences(seqs)["u"] == ["a", "b", "c"]  # no validation or test target
    assert item_popularity(training_sequences(seqs)) == {"a": 1, "b": 1, "c": 1}
