"""ML-100K end to end against digests of the list-based implementation (commit 7f43314, before issue 13).

The array pipeline must give the same samples, splits, candidates, prompts, ground truths and SFT rows
as the code it replaced. Each digest is the SHA-256 of a file's bytes (JSON files) or of its rows as
sorted-key JSON lines in file order (parquet: row groups and compression may differ, the rows may not).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from data_prep import movielens, pipeline
from data_prep.outputs import write_outputs
from data_prep.pipeline import build_samples
from data_prep.synthetic import sequential_sid_map

CONFIGS = {  # name -> (seed, write_outputs options)
    "default": (0, {}),
    "shuffled": (3, {"shuffle": True, "keep_all": True, "hints": "Sequels follow their films."}),
}

GOLDEN = {
    "default": {
        "items.jsonl": "efdbccbc11817b694a0d7c97eea73cf09c34063c92177253dd0c3131ab485b16",
        "rl/test.parquet": "cd96f6836e679b3327f860067856404c53f97aa9bb1277b78090c50165964279",
        "rl/train.parquet": "f85645e8729616a1969ee16555a821a6dab6b174ccdbdda630b48925286b4442",
        "rl/val.parquet": "50d4827e7d0a89530d9ad1376c2a48b7a2abd9fc5e2f4aa0656a5d0b4fcda9ce",
        "samples.jsonl": "5732e1f92f1d86cbb5c70958f9681d63d43666b86862778aa53623de61525e14",
        "sft/midtrain.parquet": "c4052639c570bd76baa5128188a619180d186e87a2a6c53ff07a2a1b0990e6d7",
        "sid_map.json": "6348ea394c3e3ceef2dde998800883ad3da984f87de6304750f8675fb34bfb37",
        "summary.json": "9a3704e5a790fae78fe5f4623ac985ae62e930768831f8f069b5d2d10de56dcb",
    },
    "shuffled": {
        "items.jsonl": "efdbccbc11817b694a0d7c97eea73cf09c34063c92177253dd0c3131ab485b16",
        "rl/test.parquet": "8d2736c44b7f008ebc801149e3004ecafb8249eea27bd40e3385217a2047bf8b",
        "rl/train.parquet": "00f8d39bfef6099320de08b787bb29e28e3f95e48791ef2bc9ce8a78d3472ac7",
        "rl/val.parquet": "62335d34e1fd15ee4fd1db193d1a1336a7cea47251e7c4df02354e749ad05d53",
        "samples.jsonl": "c7daf70cd27178a5785c3ab02e7bff24c09c7082d7c3e191ed93f0abc2654220",
        "sft/midtrain.parquet": "ac20408674a08fbc17875303134f5d4388b45b8c7fc018cc60bf06687a7da0b8",
        "sid_map.json": "6348ea394c3e3ceef2dde998800883ad3da984f87de6304750f8675fb34bfb37",
        "summary.json": "1b3f42da093aa094e62a80d0a69732829e51d58c110c9a8588cfd77f749710fe",
    },
}


def digest(out_dir: Path) -> dict[str, str]:
    """File -> SHA-256 of its content (parquet: its rows, see the module docstring)."""
    out = {}
    for path in sorted(p for p in out_dir.rglob("*") if p.is_file() and p.name != "summary.md"):
        h = hashlib.sha256()
        if path.suffix == ".parquet":
            for row in pq.read_table(path).to_pylist():
                h.update((json.dumps(row, sort_keys=True, ensure_ascii=False) + "\n").encode())
        else:
            h.update(path.read_bytes())
        out[path.relative_to(out_dir).as_posix()] = h.hexdigest()
    return out


def prepare_ml100k(out_dir: Path, config: str) -> dict[str, str]:
    """Write the ML-100K folder of one config (sequential SID map, no prompt statistics) and digest it."""
    seed, options = CONFIGS[config]
    log, items = movielens.load_interactions(), movielens.load_items()
    prepared = build_samples(log, seed=seed)
    write_outputs(
        prepared.shards,
        {i: items[i] for i in prepared.item_ids},
        sequential_sid_map(prepared.item_ids),
        out_dir,
        dataset="ml-100k",
        popularity=prepared.popularity,
        seed=seed,
        report=prepared.report,
        prompt_stats=False,
        **options,
    )
    return digest(out_dir)


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_ml100k_matches_the_list_based_implementation(tmp_path, config):
    assert prepare_ml100k(tmp_path, config) == GOLDEN[config]


def test_shards_of_users_give_the_same_rows(tmp_path, monkeypatch):
    """A big log is built and written a shard of users at a time: the rows must not depend on the shards."""
    monkeypatch.setattr(pipeline, "SHARD_EXAMPLES", 7_000)
    assert len(build_samples(movielens.load_interactions()).shards.sizes) > 10
    assert prepare_ml100k(tmp_path, "shuffled") == GOLDEN["shuffled"]


if __name__ == "__main__":  # print the digests (run once on the reference implementation)
    import tempfile

    for name in CONFIGS:
        with tempfile.TemporaryDirectory() as tmp:
            print(name, json.dumps(prepare_ml100k(Path(tmp), name), indent=4))
