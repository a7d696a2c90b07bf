"""GR2ReplayBuffer on veRL's real sync ReplayBuffer and a real TransferQueue (in a local Ray).

The "rollout" here writes answers into TransferQueue the way veRL's AgentLoopWorkerTQ does (keys
``{uid}_{session}_0``, ``rm_scores`` per token, ``extra_fields.reward_extra_info``, prompt tags);
the reward dicts come from our real reward function. Cases:

- every answer copies the input order (constant reward): veRL's buffer would refill forever; ours
  stops dropping after the cap, finishes the step, and says so in its metrics;
- answers whose task score ties but whose length penalty differs: filtering on ``score`` (the
  recipe) drops the group, filtering on ``reward`` (veRL's default) keeps it;
- the identity guard stops a run that keeps copying.
"""

from __future__ import annotations

import json
import tempfile
import threading
import uuid

import pytest

ray = pytest.importorskip("ray")
tq = pytest.importorskip("transfer_queue")

import torch  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402
from verl.utils.tensordict_utils import list_of_dict_to_tensordict  # noqa: E402

from gr2_verl.verl_ext.sampler import GR2ReplayBuffer  # noqa: E402
from gr2_verl.verl_ext.step_metrics import IdentityGuardError  # noqa: E402
from reward_fns import conditional_format  # noqa: E402

CANDS = [f"<|sid_begin|><s_a_{i}><s_b_0><s_c_0><s_d_0><|sid_end|>" for i in range(10)]
GT = json.dumps({"candidates": CANDS, "targets": [CANDS[2]]})
COPY = json.dumps({"reasoning": "x", "ranking": CANDS})  # identity copy: score 0 under conditional_format
PROMOTE = json.dumps({"reasoning": "x", "ranking": [CANDS[2], *CANDS[:2], *CANDS[3:]]})  # 0.2 + 0.2
GROUP = 4  # answers per prompt
BATCH = 4  # prompts per step


@pytest.fixture(scope="module")
def transfer_queue():
    tmp = tempfile.mkdtemp(prefix="rh_")
    ray.init(num_cpus=2, include_dashboard=False, _temp_dir=tmp, log_to_driver=False)
    tq.init(OmegaConf.create({"backend": {"SimpleStorage": {"num_data_storage_units": 1}}}))
    yield tq
    tq.close()
    ray.shutdown()


class Rollout:
    """Answers each prompt with ``answers(uid)``: a list of (solution text, length penalty) per session."""

    def __init__(self, answers):
        self.answers = answers
        self.prompts = 0

    def __call__(self, n: int) -> int:
        for _ in range(n):
            uid = str(uuid.uuid4())
            self.prompts += 1
            tq.kv_put(key=uid, partition_id="train", tag={"is_prompt": True, "status": "running", "global_steps": 1})
            keys, fields, tags = [], [], []
            for session, (text, penalty) in enumerate(self.answers(self.prompts)):
                info = conditional_format(data_source="gr2/t", solution_str=text, ground_truth=GT)
                length = 5 + session
                rm = torch.zeros(length)
                rm[-1] = info["score"] + penalty
                keys.append(f"{uid}_{session}_0")
                fields.append({"rm_scores": rm, "extra_fields": {"reward_extra_info": info}})
                tags.append({"status": "success", "global_steps": 1, "min_global_steps": 0, "max_global_steps": 0})
            tq.kv_batch_put(keys=keys, partition_id="train", fields=list_of_dict_to_tensordict(fields), tags=tags)
            tq.kv_put(key=uid, partition_id="train", tag={"status": "finished"})
        return n


def make_buffer(rollout, metric="score", max_num_gen_batches=2, guard=None):
    kwargs = {
        "filter_enable": True,
        "filter_metric": metric,
        "max_num_gen_batches": max_num_gen_batches,
        "max_inflight_gen_batches": 2,
        "train_batch_size": BATCH,
        "sync_refill_failed_groups": False,
        "identity_guard_threshold": guard,
        "identity_guard_steps": 1,
        "identity_guard_action": "stop",
    }
    return GR2ReplayBuffer(
        trainer_mode="sync",
        trainer_config=OmegaConf.create({}),
        max_off_policy_threshold=None,
        max_off_policy_strategy="drop",
        sampler_kwargs=OmegaConf.create(kwargs),
        refill_fn=rollout,
        poll_interval=0.05,
    )


def run_step(buffer, rollout, limit_s: float = 60.0):
    """What PPOTrainerSync does around ``sample`` (submit a batch, sample, clear the trained keys), with a
    time limit: a sampler that never returns fails the test instead of hanging it."""
    rollout(BATCH)
    result: dict = {}

    def target():
        try:
            result["out"] = buffer.sample(global_steps=1, partition_id="train", batch_size=BATCH)
        except Exception as e:  # handed to the test thread below
            result["error"] = e

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(limit_s)
    assert not thread.is_alive(), f"sample() did not return within {limit_s} s"
    if "error" in result:
        raise result["error"]
    batch, metrics = result["out"]
    tq.kv_clear(keys=batch.keys, partition_id="train")
    return batch, metrics


def test_constant_reward_trips_the_cap_instead_of_hanging(transfer_queue):
    rollout = Rollout(lambda _: [(COPY, 0.0)] * GROUP)  # collapse: every answer copies the input
    batch, metrics = run_step(make_buffer(rollout), rollout)
    assert len({k.split("_")[0] for k in batch.keys}) == BATCH
    assert metrics["training/filter_groups/cap_hit"] == 1.0
    assert metrics["training/filter_groups/kept_tied_groups"] == BATCH
    assert metrics["training/filter_groups/evicted_samples"] == BATCH  # (2 - 1) x 4 groups dropped, no more
    assert rollout.prompts <= (2 * 2 - 1) * BATCH  # the documented generation bound
    assert metrics["gr2/identity_rate"] == 1.0 and metrics["gr2/kendall_tau"] == 1.0
    assert metrics["gr2/answers"] == rollout.prompts * GROUP  # dropped groups are measured too


def test_filtering_reads_the_unshaped_score(transfer_queue):
    # prompts 1-4: the same copy, lengths differ (penalty 0 vs -0.3): a length-only spread;
    # later prompts: a real spread in task score (copy vs promote).
    def answers(i):
        if i <= BATCH:
            return [(COPY, 0.0)] * (GROUP - 1) + [(COPY, -0.3)]
        return [(COPY, 0.0), (PROMOTE, 0.0)] * (GROUP // 2)

    rollout = Rollout(answers)
    _, metrics = run_step(make_buffer(rollout, metric="score", max_num_gen_batches=0), rollout)
    assert metrics["training/filter_groups/evicted_samples"] == BATCH  # the length-only groups are gone
    assert metrics["training/filter_groups/cap_hit"] == 0.0
    assert metrics["gr2/target_promoted"] > 0

    rollout = Rollout(answers)
    _, metrics = run_step(make_buffer(rollout, metric="reward", max_num_gen_batches=0), rollout)
    assert "training/filter_groups/evicted_samples" not in metrics  # veRL's default keeps them
    assert metrics["gr2/identity_rate"] == 1.0  # and trains on the length gap between copies


def test_identity_guard_stops_a_copying_run(transfer_queue):
    rollout = Rollout(lambda _: [(COPY, 0.0)] * GROUP)
    with pytest.raises(IdentityGuardError, match="copies the input order"):
        run_step(make_buffer(rollout, guard=0.5), rollout)
    for partition in tq.kv_list().values():
        tq.kv_clear(keys=list(partition), partition_id="train")


def test_async_mode_is_refused():
    with pytest.raises(ValueError, match="sync only"):
        GR2ReplayBuffer("colocate_async", OmegaConf.create({}), None, "drop", OmegaConf.create({}))


def test_without_the_cap_the_same_collapse_never_ends(transfer_queue):
    # veRL's behaviour (max_num_gen_batches=0, as V1 ignores it): the step is still refilling after 5 s.
    rollout = Rollout(lambda _: [(COPY, 0.0)] * GROUP)
    with pytest.raises(AssertionError, match="did not return"):
        run_step(make_buffer(rollout, max_num_gen_batches=0), rollout, limit_s=5.0)
    assert rollout.prompts > 3 * BATCH
