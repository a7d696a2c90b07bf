#!/usr/bin/env bash
# DAPO | reranker | 8xH100 | expect R@1 above the input order's after 600 steps (GR2 Beauty: 0.2977 vs 0.2892)
# Stage 3: RL with DAPO and GR2's conditional format reward on DATA_DIR/rl/{train,val}.parquet.
# Extra arguments are Hydra overrides for veRL's main_ppo, e.g. trainer.total_training_steps=10;
# `--cfg job` prints the composed config without training.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# Model preset: qwen3_8b (8 GPUs), qwen3_1p7b (1 GPU) or cpu_tiny (no GPU); see configs/rl_model/.
PRESET="${PRESET:-qwen3_8b}"
# The reasoning-SFT model: reasoning_sft.sh's HF export (or a base model to skip SFT).
MODEL="${MODEL:?set MODEL to the reasoning-SFT HF export, e.g. runs/gr2/gr2_reasoning_sft/global_step_N/huggingface}"
# The folder `gr2 prepare` wrote.
DATA_DIR="${DATA_DIR:-data/beauty}"
# Checkpoints (default: runs/gr2/<run name>); HF export in $OUT/global_step_N/actor/huggingface.
OUT="${OUT:-}"
# GPUs on this node (default: the preset's trainer.n_gpus_per_node).
NGPUS="${NGPUS:-}"

cmd=(python -m verl.trainer.main_ppo
  --config-path "$HERE/configs" --config-name dapo
  "rl_model=$PRESET"
  "actor_rollout_ref.model.path=$MODEL"
  "data.train_files=$DATA_DIR/rl/train.parquet"
  "data.val_files=$DATA_DIR/rl/val.parquet"
  ${NGPUS:+"trainer.n_gpus_per_node=$NGPUS"}
  ${OUT:+"trainer.default_local_dir=$OUT"}
  "$@")
echo "+ ${cmd[*]}"
"${cmd[@]}"
