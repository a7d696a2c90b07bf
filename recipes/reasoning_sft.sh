#!/usr/bin/env bash
# SFT reasoning | reranker | 8xH100 | expect R@1 near or below the input order's (GR2: 0.2784 vs 0.2892)
# Stage 2: fine-tune the mid-trained model on the teacher's rejection-sampled traces (`gr2 traces`).
# Extra arguments are Hydra overrides for veRL's sft_trainer, e.g. trainer.total_epochs=1.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# Model preset: qwen3_8b (8 GPUs) or qwen3_1p7b (1 GPU); see configs/sft_model/.
PRESET="${PRESET:-qwen3_8b}"
# The mid-trained model: midtrain_sft.sh's HF export.
MODEL="${MODEL:?set MODEL to the mid-training HF export, e.g. runs/gr2/gr2_midtrain/global_step_N/huggingface}"
# The kept traces: OUT/sft.parquet of `gr2 traces --out OUT`.
TRACES="${TRACES:-data/beauty/traces/sft.parquet}"
# Checkpoints (default: runs/gr2/<run name>); HF export in $OUT/global_step_N/huggingface.
OUT="${OUT:-}"
# GPUs on this node (default: trainer.n_gpus_per_node of the top-level trainer: block of the preset file).
NGPUS="${NGPUS:-$(awk '/^[^ #]/ {top = $1} top == "trainer:" && $1 == "n_gpus_per_node:" {print $2}' \
  "$HERE/configs/sft_model/$PRESET.yaml")}"
: "${NGPUS:?configs/sft_model/$PRESET.yaml sets no trainer.n_gpus_per_node; set NGPUS}"

cmd=(torchrun --standalone --nnodes=1 --nproc_per_node="$NGPUS" -m verl.trainer.sft_trainer
  --config-path "$HERE/configs" --config-name sft_reasoning
  "sft_model=$PRESET"
  "model.path=$MODEL"
  "data.train_files=$TRACES"
  "trainer.n_gpus_per_node=$NGPUS"
  ${OUT:+"trainer.default_local_dir=$OUT"}
  "$@")
echo "+ ${cmd[*]}"
"${cmd[@]}"
