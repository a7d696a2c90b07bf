#!/usr/bin/env bash
# SFT mid-training | reranker | 8xH100 | expect loss falling for 2 epochs; SID tasks learnt (GR2 3.1)
# Stage 1: teach the SID-extended model the SID language on DATA_DIR/sft/midtrain.parquet.
# Extra arguments are Hydra overrides for veRL's sft_trainer, e.g. trainer.total_epochs=1.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# Model preset: qwen3_8b (8 GPUs) or qwen3_1p7b (1 GPU); see configs/sft_model/.
PRESET="${PRESET:-qwen3_8b}"
# The SID-extended base model (`gr2 vocab extend --out ...`).
MODEL="${MODEL:?set MODEL to the SID-extended base model folder (gr2 vocab extend --out DIR)}"
# The folder `gr2 prepare` wrote.
DATA_DIR="${DATA_DIR:-data/beauty}"
# Checkpoints (default: runs/gr2/<run name>); HF export in $OUT/global_step_N/huggingface.
OUT="${OUT:-}"
# GPUs on this node (default: trainer.n_gpus_per_node of the top-level trainer: block of the preset file).
NGPUS="${NGPUS:-$(awk '/^[^ #]/ {top = $1} top == "trainer:" && $1 == "n_gpus_per_node:" {print $2}' \
  "$HERE/configs/sft_model/$PRESET.yaml")}"
: "${NGPUS:?configs/sft_model/$PRESET.yaml sets no trainer.n_gpus_per_node; set NGPUS}"

cmd=(torchrun --standalone --nnodes=1 --nproc_per_node="$NGPUS" -m verl.trainer.sft_trainer
  --config-path "$HERE/configs" --config-name sft_midtrain
  "sft_model=$PRESET"
  "model.path=$MODEL"
  "data.train_files=$DATA_DIR/sft/midtrain.parquet"
  "trainer.n_gpus_per_node=$NGPUS"
  ${OUT:+"trainer.default_local_dir=$OUT"}
  "$@")
echo "+ ${cmd[*]}"
"${cmd[@]}"
