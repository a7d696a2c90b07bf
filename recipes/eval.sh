#!/usr/bin/env bash
# Evaluation | reranker | 8xH100 | expect R@1/R@5/N@5 vs the input order (GR2 Beauty RL: .2977/.7460/.5234)
# Stage 4: greedy generation with veRL on DATA_DIR/rl/test.parquet (main_ppo in validation-only
# mode, the DAPO recipe's decoding), then `gr2 eval` scores the dumped generations.
# Extra arguments are Hydra overrides for the generation run.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# Model preset: qwen3_8b (8 GPUs), qwen3_1p7b (1 GPU) or cpu_tiny (no GPU); see configs/rl_model/.
PRESET="${PRESET:-qwen3_8b}"
# The model to evaluate: any HF folder (dapo.sh's export: .../global_step_N/actor/huggingface).
MODEL="${MODEL:?set MODEL to the HF folder to evaluate}"
# The folder `gr2 prepare` wrote.
DATA_DIR="${DATA_DIR:-data/beauty}"
# Where generations (generations/0.jsonl) and the evaluation report go.
OUT="${OUT:-runs/gr2/eval}"
# GPUs on this node (default: the preset's trainer.n_gpus_per_node).
NGPUS="${NGPUS:-}"
TEST="$DATA_DIR/rl/test.parquet"

gen=(python -m verl.trainer.main_ppo
  --config-path "$HERE/configs" --config-name dapo
  "rl_model=$PRESET"
  "actor_rollout_ref.model.path=$MODEL"
  "data.train_files=$TEST"
  "data.val_files=$TEST"
  ${NGPUS:+"trainer.n_gpus_per_node=$NGPUS"}
  trainer.val_only=true
  trainer.val_before_train=true
  trainer.resume_mode=disable
  trainer.experiment_name=gr2_eval
  "trainer.validation_data_dir=$OUT/generations"
  "$@")
echo "+ ${gen[*]}"
"${gen[@]}"

score=(gr2 eval --generations "$OUT/generations/0.jsonl" --test "$TEST" --out "$OUT")
echo "+ ${score[*]}"
"${score[@]}"
