"""Every recipe composes with veRL 0.9.1's own Hydra tree, passes veRL's validate_config, and its
EFFECTIVE values are the ones GR2 asks for (read back through veRL's dataclasses and loaders)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

import reward_fns
from gr2_verl.types import GroundTruth, sid_string

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ROOT / "recipes"
CONFIGS = RECIPES / "configs"
PRIMARY = sorted(p.stem for p in CONFIGS.glob("*.yaml"))
RL_PRESETS = sorted(p.stem for p in (CONFIGS / "rl_model").glob("*.yaml"))
SFT_PRESETS = sorted(p.stem for p in (CONFIGS / "sft_model").glob("*.yaml"))
GPU_PRESETS = {"qwen3_1p7b": 1, "qwen3_8b": 8}  # preset -> the GPU count it is sized for
ABLATIONS = sorted(RECIPES.glob("ablations/*.sh"))
CANDIDATES = [sid_string([i, i + 1, i + 2, i + 3]) for i in range(10)]
TARGET_AT_3 = GroundTruth(candidates=tuple(CANDIDATES), targets=(CANDIDATES[2],)).to_json()


def _compose(name: str, overrides: list[str] = ()) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONFIGS), version_base=None):
        return compose(config_name=name, overrides=list(overrides))


def _validate(config: DictConfig) -> None:
    """What verl.trainer.main_ppo.main runs before training (auto_set_device aside: it needs a GPU)."""
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    validate_config(config, use_reference_policy=need_reference_policy(config), use_critic=need_critic(config))


def _answer(order: list[int]) -> str:
    ranking = [CANDIDATES[i] for i in order]
    return "<think>\nMove the third up.\n</think>\n\n" + json.dumps({"reasoning": "r", "ranking": ranking})


def test_every_config_is_tested():
    assert PRIMARY == ["dapo", "sft_midtrain", "sft_reasoning"]
    assert RL_PRESETS == ["cpu_tiny", *GPU_PRESETS] and SFT_PRESETS == ["cpu_tiny", *GPU_PRESETS]
    assert [p.stem for p in ABLATIONS] == ["conditional_format", "identity_gated", "listwise_ndcg", "naive_format"]


@pytest.mark.parametrize("preset", GPU_PRESETS)
def test_dapo_effective_values(preset):
    from verl.trainer.config import AlgoConfig
    from verl.utils.config import omega_conf_to_dataclass

    config = _compose("dapo", [f"rl_model={preset}"])
    _validate(config)
    assert config.trainer.n_gpus_per_node == GPU_PRESETS[preset]
    assert config.trainer.default_local_dir == "runs/gr2/gr2_dapo"  # git-ignored

    algo = omega_conf_to_dataclass(config.algorithm, AlgoConfig)
    assert algo.adv_estimator == "grpo" and not algo.use_kl_in_reward
    # "score" is our reward function's unshaped score; veRL's "reward" would include the length penalty.
    assert algo.filter_groups.enable and algo.filter_groups.metric == "score"
    assert algo.filter_groups.max_num_gen_batches == 4

    actor = omega_conf_to_dataclass(config.actor_rollout_ref.actor)
    assert (actor.clip_ratio_low, actor.clip_ratio_high, actor.clip_ratio_c) == (0.2, 0.28, 10.0)
    assert actor.loss_agg_mode == "token-mean" and not actor.use_kl_loss
    assert actor.optim.lr == 5e-7
    assert "hf_model" in actor.checkpoint.save_contents
    assert actor.strategy == "fsdp2" and actor.fsdp_config.strategy == "fsdp2"  # as in SFT
    assert config.trainer.max_actor_ckpt_to_keep == 2

    rollout = config.actor_rollout_ref.rollout
    assert rollout.name == "vllm" and rollout.n == 8
    # veRL derives the rollout lengths from data.*; the prompt budget covers ~1.5k-token prompts.
    assert (rollout.prompt_length, rollout.response_length) == (2048, 1024)
    assert config.data.max_prompt_length >= 1536


@pytest.mark.parametrize("preset", GPU_PRESETS)
def test_gpu_presets_carry_no_cpu_only_setting(preset):
    """fp32, SDPA, the CPU rollout and the logical GPU belong to cpu_tiny alone."""
    config = _compose("dapo", [f"rl_model={preset}"])
    assert config.actor_rollout_ref.rollout.name == "vllm" and config.actor_rollout_ref.rollout.dtype == "bfloat16"
    assert "mixed_precision" not in config.actor_rollout_ref.actor.fsdp_config  # veRL's bf16 compute
    assert "attn_implementation" not in config.actor_rollout_ref.model.override_config
    assert config.trainer.device == "cuda" and "num_gpus" not in config.ray_kwargs.ray_init
    assert "env_vars" not in config.ray_kwargs.ray_init.runtime_env
    for name in ("sft_midtrain", "sft_reasoning"):
        sft = _compose(name, [f"sft_model={preset}"])
        assert "mixed_precision" not in sft.engine and "attn_implementation" not in sft.model.override_config
        assert sft.trainer.device == "cuda" and sft.model.use_remove_padding


@pytest.mark.parametrize("name", ["sft_midtrain", "sft_reasoning"])
def test_sft_cpu_tiny_preset_selects_cpu_settings(name, tiny_qwen_dir):
    """The SFT twin of cpu_tiny: the SFT scripts train on CPU with PRESET=cpu_tiny (test_sft_cpu_smoke runs it)."""
    from verl.utils.config import omega_conf_to_dataclass

    config = _compose(name, ["sft_model=cpu_tiny", f"model.path={tiny_qwen_dir}"])
    assert config.trainer.device == "cpu" and config.trainer.n_gpus_per_node == 1
    assert config.engine.mixed_precision.param_dtype == "fp32" and not config.engine.use_torch_compile
    assert config.model.override_config.attn_implementation == "sdpa" and not config.model.use_remove_padding
    # veRL builds its engine config from it: the fp32 request reaches the FSDP engine.
    assert omega_conf_to_dataclass(config.engine).mixed_precision["param_dtype"] == "fp32"


def test_cpu_tiny_preset_selects_the_cpu_backends():
    """The CPU preset alone turns a GPU recipe into a CPU one (tests/recipes/test_dapo_cpu.py runs it)."""
    config = _compose("dapo", ["rl_model=cpu_tiny"])
    _validate(config)
    rollout = config.actor_rollout_ref.rollout
    assert (rollout.name, rollout.dtype) == ("cpu", "float32")
    assert config.actor_rollout_ref.actor.fsdp_config.mixed_precision.param_dtype == "fp32"
    assert config.actor_rollout_ref.model.override_config.attn_implementation == "sdpa"
    assert config.trainer.n_gpus_per_node == 1 and config.ray_kwargs.ray_init.num_gpus == 1
    assert config.ray_kwargs.ray_init.runtime_env.env_vars.VERL_PLATFORM == "cpu"
    # The recipe's algorithm is untouched: only sizes and backends change.
    assert config.reward.custom_reward_function.name == "conditional_format" and config.algorithm.filter_groups.enable
    assert config.reward.reward_kwargs.max_resp_len == config.data.max_response_length


@pytest.mark.parametrize("preset", GPU_PRESETS)
@pytest.mark.parametrize("name", ["sft_midtrain", "sft_reasoning"])
def test_sft_effective_values(name, preset, tiny_qwen_dir):
    from verl.utils.config import omega_conf_to_dataclass

    config = _compose(name, [f"sft_model={preset}", f"model.path={tiny_qwen_dir}"])
    assert config.trainer.n_gpus_per_node == GPU_PRESETS[preset]
    assert config.data.enable_thinking_default is None  # veRL's `none` is the truthy string "none"
    assert config.trainer.max_ckpt_to_keep == 2
    assert config.engine.strategy == "fsdp2"
    assert config.trainer.default_local_dir == f"runs/gr2/{config.trainer.experiment_name}"  # git-ignored
    assert "hf_model" in omega_conf_to_dataclass(config.checkpoint).save_contents
    assert config.data.train_files.endswith(".parquet") and config.data.messages_key == "messages"
    # The model dataclass veRL builds installs our template on the real Qwen3 tokenizer.
    model = omega_conf_to_dataclass(config.model)
    assert model.tokenizer.chat_template == config.model.custom_chat_template


def test_custom_reward_resolves_through_verl_to_our_function():
    from verl.trainer.ppo.reward import get_custom_reward_fn
    from verl.utils.import_utils import load_extern_object

    config = _compose("dapo")
    rc = config.reward.custom_reward_function
    assert (rc.path, rc.name) == ("pkg://reward_fns", "conditional_format")
    assert load_extern_object(rc.path, rc.name) is reward_fns.conditional_format

    fn = get_custom_reward_fn(config)
    promoted = _answer([2, 0, 1, 3, 4, 5, 6, 7, 8, 9])
    got = fn(data_source="gr2/test", solution_str=promoted, ground_truth=TARGET_AT_3, extra_info={})
    assert got == reward_fns.conditional_format("gr2/test", promoted, TARGET_AT_3, {}, alpha=0.2, invalid_score=-1.0)
    assert got["score"] == pytest.approx(0.2 + 0.2)  # R_rank = (3 - 1) / 10, plus alpha


def test_dapo_reward_manager_applies_overlong_shaping(qwen_tokenizer):
    """veRL's own dapo manager, built from our config, scores a real decoded answer and shapes length."""
    from verl import DataProto
    from verl.trainer.ppo.reward import get_custom_reward_fn, resolve_reward_manager_cls

    from gr2_verl.verl_ext.reward_manager import GR2DAPORewardManager

    config = _compose("dapo")
    assert resolve_reward_manager_cls(config) is GR2DAPORewardManager
    manager = GR2DAPORewardManager(config, qwen_tokenizer, get_custom_reward_fn(config))

    answer_ids = qwen_tokenizer(_answer([2, 0, 1, 3, 4, 5, 6, 7, 8, 9]))["input_ids"]
    max_len = config.data.max_response_length
    pad = qwen_tokenizer.pad_token_id

    def score(n_tokens: int) -> dict:
        # The valid answer, then filler the policy kept writing: n_tokens long in all.
        response = (answer_ids + qwen_tokenizer.encode(" x") * n_tokens)[:n_tokens]
        responses = torch.tensor([response + [pad] * (max_len - n_tokens)])
        prompt = torch.tensor([[1, 2, 3]])
        mask = torch.zeros(1, 3 + max_len, dtype=torch.long)
        mask[0, : 3 + n_tokens] = 1
        data = DataProto.from_dict(
            tensors={"prompts": prompt, "responses": responses, "attention_mask": mask},
            non_tensors={
                "data_source": ["gr2/test"],
                "reward_model": [{"style": "rule", "ground_truth": TARGET_AT_3}],
                "extra_info": [{}],
            },
        )
        return manager.loop.run_until_complete(manager.run_single(data))

    short = score(len(answer_ids))
    assert short["reward_score"] == pytest.approx(0.4) and short["reward_extra_info"]["overlong_reward"] == 0
    # 896 tokens: 128 into the 256-token buffer before 1024, so half the penalty factor (1.0).
    long = score(896)
    assert long["reward_extra_info"]["overlong_reward"] == pytest.approx(-0.5)
    assert long["reward_score"] == pytest.approx(0.4 - 0.5)


def test_dapo_runs_v1_sync_with_our_sampler():
    """The keys main_ppo's V1 trainer reads to build its replay buffer resolve to GR2ReplayBuffer, which
    receives the filtering settings (veRL passes a custom sampler none of them)."""
    from verl.utils.import_utils import load_extern_type

    from gr2_verl.verl_ext.sampler import GR2ReplayBuffer

    config = _compose("dapo", ["data.train_batch_size=32"])
    OmegaConf.resolve(config)  # main_ppo resolves before building the trainer
    assert config.trainer.use_v1 and config.trainer.v1.trainer_mode == "sync"
    sampler = config.trainer.v1.sampler
    assert load_extern_type(sampler.custom_sampler.path, sampler.custom_sampler.name) is GR2ReplayBuffer
    kw = sampler.sampler_kwargs
    assert (kw.filter_enable, kw.filter_metric, kw.max_num_gen_batches) == (True, "score", 4)
    assert (kw.train_batch_size, kw.max_inflight_gen_batches, kw.identity_guard_threshold) == (32, 2, None)


def test_no_legacy_reward_keys_anywhere():
    legacy = ("custom_reward_function", "reward_model")
    for path in CONFIGS.rglob("*.yaml"):
        raw = OmegaConf.load(path)
        assert not set(raw.keys()) & set(legacy), f"{path}: legacy top-level reward key"
    for script in RECIPES.rglob("*.sh"):
        words = script.read_text().split()
        assert not [w for w in words if w.startswith(legacy)], f"{script}: legacy reward override"
    config = _compose("dapo")
    assert config.custom_reward_function.path is None and config.reward_model.reward_manager is None


def _argv_of(script: Path, tmp_path: Path, env: dict[str, str]) -> list[str]:
    """Run a recipe script with `python`, `torchrun` and `gr2` on PATH replaced by recorders of their argv (no
    training).

    Returns python's (or torchrun's) argv; gr2's lands in tmp_path/gr2_argv."""
    shim = tmp_path / "bin"
    shim.mkdir(exist_ok=True)
    for name, record in (("python", "argv"), ("torchrun", "argv"), ("gr2", "gr2_argv")):
        recorder = shim / name
        recorder.write_text(f'#!/usr/bin/env bash\nprintf "%s\\0" "$@" > "{tmp_path}/{record}"\n')
        recorder.chmod(recorder.stat().st_mode | stat.S_IEXEC)
    run_env = {**os.environ, **env, "PATH": f"{shim}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(
        ["bash", str(script), "trainer.total_training_steps=3"], check=True, env=run_env, capture_output=True, text=True
    )
    return (tmp_path / "argv").read_text().split("\0")[:-1]


@pytest.mark.parametrize("script", ABLATIONS, ids=lambda p: p.stem)
def test_ablation_is_one_override_of_dapo(script, tmp_path):
    argv = _argv_of(script, tmp_path, {"MODEL": "some/model", "PRESET": "qwen3_1p7b", "DATA_DIR": "d"})
    assert argv[:2] == ["-m", "verl.trainer.main_ppo"]
    assert argv[argv.index("--config-name") + 1] == "dapo"
    overrides = argv[argv.index("--config-name") + 2 :]
    assert overrides[-1] == "trainer.total_training_steps=3"  # "$@" reaches veRL
    config = _compose("dapo", overrides)
    _validate(config)
    name = script.stem
    assert config.reward.custom_reward_function.name == name
    assert config.trainer.experiment_name == f"gr2_{name}"
    assert config.data.train_files == "d/rl/train.parquet" and config.actor_rollout_ref.model.path == "some/model"
    assert callable(getattr(reward_fns, name))


@pytest.mark.parametrize(
    ("script", "preset", "ngpus", "expected"),
    [
        ("dapo.sh", "cpu_tiny", None, 1),  # the preset's own count: no GPU-count rule in the script
        ("eval.sh", "qwen3_8b", None, 8),
        ("dapo.sh", "qwen3_8b", "4", 4),  # NGPUS wins
        ("midtrain_sft.sh", "qwen3_8b", None, 8),  # torchrun's process count, read from the preset file
        ("reasoning_sft.sh", "qwen3_1p7b", None, 1),
        ("reasoning_sft.sh", "qwen3_8b", "2", 2),
    ],
)
def test_a_preset_owns_its_gpu_count(script, preset, ngpus, expected, tmp_path):
    env = {"MODEL": "m", "PRESET": preset, "DATA_DIR": "d", "OUT": str(tmp_path / "o")}
    argv = _argv_of(RECIPES / script, tmp_path, env if ngpus is None else {**env, "NGPUS": ngpus})
    overrides = argv[argv.index("--config-name") + 2 :]
    gpu_overrides = [o for o in overrides if o.startswith("trainer.n_gpus_per_node=")]
    if script.endswith("_sft.sh"):
        # sft_trainer never reads trainer.n_gpus_per_node (torchrun's process count decides), so none is passed
        assert f"--nproc_per_node={expected}" in argv and gpu_overrides == []
        return
    assert gpu_overrides == ([] if ngpus is None else [f"trainer.n_gpus_per_node={ngpus}"])
    assert _compose("dapo", overrides).trainer.n_gpus_per_node == expected


def test_eval_generates_with_the_dapo_decoding_on_the_test_split(tmp_path):
    argv = _argv_of(
        RECIPES / "eval.sh",
        tmp_path,
        {"MODEL": "m", "PRESET": "qwen3_1p7b", "DATA_DIR": "d", "OUT": str(tmp_path / "ev")},
    )
    config = _compose("dapo", argv[argv.index("--config-name") + 2 :])
    _validate(config)
    assert config.data.val_files == "d/rl/test.parquet" and config.trainer.val_only
    assert config.trainer.validation_data_dir == str(tmp_path / "ev" / "generations")
    assert config.actor_rollout_ref.rollout.val_kwargs.temperature == 0  # what makes V1 decode greedily
    scored = (tmp_path / "gr2_argv").read_text().split("\0")[:-1]
    assert scored[0] == "eval" and str(tmp_path / "ev" / "generations" / "0.jsonl") in scored
    assert "d/rl/test.parquet" in scored


def test_eval_sizes_the_prompt_budget_from_the_data(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    stats = {"test": {"with_sid_tokens": {"max": 1900}}, "train": {"with_sid_tokens": {"max": 2400}}}
    (data / "summary.json").write_text(json.dumps({"prompt_tokens": stats}))
    argv = _argv_of(RECIPES / "eval.sh", tmp_path, {"MODEL": "m", "PRESET": "qwen3_1p7b", "DATA_DIR": str(data)})
    config = _compose("dapo", argv[argv.index("--config-name") + 2 :])
    _validate(config)
    assert config.data.max_prompt_length == 2688  # 2400 x 1.1 = 2640, rounded up to 128
    assert config.data.filter_overlong_prompts  # veRL drops, never truncates; gr2 eval refuses the gap


def test_main_ppo_cfg_job_composes_dapo_sh(tmp_path):
    """The real CLI path: dapo.sh -> python -m verl.trainer.main_ppo ... --cfg job (prints, never trains)."""
    # The scripts call `python`: make it this interpreter (the one with veRL and reward_fns installed).
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    env = {**os.environ, "MODEL": "some/model", "PRESET": "qwen3_8b", "DATA_DIR": "d", "PATH": path}
    out = subprocess.run(
        ["bash", str(RECIPES / "dapo.sh"), "--cfg", "job"], check=True, env=env, capture_output=True, text=True
    ).stdout
    job = OmegaConf.create("\n".join(line for line in out.splitlines() if not line.startswith("+ ")))
    assert job.reward.reward_manager.name == "GR2DAPORewardManager"
    assert job.reward.custom_reward_function.name == "conditional_format"
    assert job.reward.reward_kwargs.overlong_buffer_cfg.enable
    assert job.actor_rollout_ref.actor.clip_ratio_high == 0.28
    assert job.trainer.n_gpus_per_node == 8


@pytest.mark.parametrize(
    ("config_name", "rows", "template"),
    [
        ("sft_midtrain", "midtrain_rows", "recipe"),
        ("sft_reasoning", "trace_rows", "recipe"),  # <think> rows and plain-reasoning rows alike
        ("sft_reasoning", "trace_rows", "stock"),  # Qwen3's own template: veRL's check stops the run
    ],
)
def test_sft_dataset_trains_on_every_answer_token(config_name, rows, template, tiny_qwen_dir, tmp_path, request):
    """veRL's MultiTurnSFTDataset under the recipe: per-turn tokens equal the whole conversation's, and the
    loss mask covers exactly the assistant answer, reasoning included."""
    from verl.utils.config import omega_conf_to_dataclass
    from verl.utils.dataset.multiturn_sft_dataset import MultiTurnSFTDataset

    rows = request.getfixturevalue(rows)
    path = tmp_path / "rows.parquet"
    pd.DataFrame(rows).to_parquet(path)
    overrides = [f"model.path={tiny_qwen_dir}"] + (["model.custom_chat_template=null"] if template == "stock" else [])
    config = _compose(config_name, overrides)
    tokenizer = omega_conf_to_dataclass(config.model).tokenizer
    dataset = MultiTurnSFTDataset(parquet_files=str(path), tokenizer=tokenizer, config=config.data)
    if template == "stock":
        with pytest.raises(AssertionError, match="ignore_input_ids_mismatch"):
            dataset[0]
        return
    for i, row in enumerate(rows):
        item = dataset[i]
        trained = tokenizer.decode(item["input_ids"][item["loss_mask"].bool()])
        assert trained == row["messages"][-1]["content"] + "<|im_end|>\n"


def test_reasoning_sft_rejects_an_over_long_trace_when_the_dataset_is_built(trace_rows, tiny_qwen_dir, tmp_path):
    """veRL's own builder (create_sft_dataset) loads our class from the recipe and checks every row up front."""
    from verl.trainer.sft_trainer import create_sft_dataset
    from verl.utils.config import omega_conf_to_dataclass

    from gr2_verl.verl_ext.sft_dataset import LengthCheckedSFTDataset

    long_row = {"messages": [*trace_rows[0]["messages"][:-1], {"role": "assistant", "content": "word " * 5000}]}
    path = tmp_path / "rows.parquet"
    pd.DataFrame([*trace_rows, long_row]).to_parquet(path)
    config = _compose("sft_reasoning", [f"model.path={tiny_qwen_dir}"])
    tokenizer = omega_conf_to_dataclass(config.model).tokenizer
    n = len(trace_rows)
    with pytest.raises(ValueError, match=rf"1 of {n + 1} SFT rows .*max_length=4096.*\[{n}\]"):
        create_sft_dataset(str(path), config.data, tokenizer, processor=None)
    pd.DataFrame(trace_rows).to_parquet(path)
    assert isinstance(create_sft_dataset(str(path), config.data, tokenizer, processor=None), LengthCheckedSFTDataset)
