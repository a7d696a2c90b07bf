"""The Ray path (``build_samples(..., ray=True)``: candidates on Ray Data; ``write_outputs(..., ray=True)``: RL rows
as Ray tasks) on a local 2-process Ray cluster: the same output."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from data_prep import distributed, outputs, pipeline
from data_prep.interactions import CodedLog
from data_prep.outputs import write_outputs
from data_prep.pipeline import build_samples
from data_prep.synthetic import sequential_sid_map, synthetic_log

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


@pytest.mark.parametrize("split_at", [None, (1_000_000 + 7 * 60, 1_000_000 + 9 * 60)])
def test_ray_candidates_equal_the_single_machine_ones(local_cluster, tmp_path, split_at, monkeypatch):
    monkeypatch.setattr(outputs, "CHUNK_ROWS", 97)  # several RL chunks a split, in flight at once on Ray
    monkeypatch.setattr(pipeline, "SHARD_EXAMPLES", 900)  # several shards of users, each put in the object store
    monkeypatch.setattr(distributed, "BLOCK_EXAMPLES", 500)  # several Ray Data blocks, scored on both workers
    log, items = synthetic_log(400, 300, 12, seed=11)
    local = build_samples(log, min_interactions=3, split_at=split_at)
    spread = build_samples(log, min_interactions=3, split_at=split_at, ray=True)
    assert len(local.shards.sizes) > 2
    examples = pipeline.split_log(CodedLog.from_frame(log), 3, split_at)[2]
    blocks = len(examples.runs(distributed.BLOCK_EXAMPLES)) - 1
    assert blocks > 4  # several blocks: they must come back in order, or the candidates differ
    assert (local.table.candidates == spread.table.candidates).all()
    assert local.report == spread.report and local.popularity == spread.popularity
    sid_map = sequential_sid_map(local.item_ids)
    for name, prepared in (("local", local), ("ray", spread)):
        catalogue = {i: items[i] for i in prepared.item_ids}
        write_outputs(prepared.shards, catalogue, sid_map, tmp_path / name, dataset="d", ray=name == "ray",
                      popularity=prepared.popularity, report=prepared.report, prompt_stats=False)  # fmt: skip
    files = sorted(p.relative_to(tmp_path / "local") for p in (tmp_path / "local").rglob("*.*"))
    assert len(files) == 9
    for f in files:  # the same bytes: same rows in the same row groups
        assert (tmp_path / "local" / f).read_bytes() == (tmp_path / "ray" / f).read_bytes(), f
    assert np.unique(local.table.candidates[:, 0]).size > 10  # a real ranking, not a constant list
    assert pq.ParquetFile(tmp_path / "ray" / "rl" / "train.parquet").num_row_groups > 2  # chunks kept in order
