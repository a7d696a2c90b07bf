#!/usr/bin/env bash
# GR2 pipeline | reranker | 8xH100 | expect days on Beauty at Qwen3-8B (estimate); each stage's figure in its script
# Runs mid-training SFT -> reasoning SFT -> DAPO -> evaluation, each stage starting from the
# previous stage's latest HF export. Needs `gr2 prepare` (DATA_DIR), `gr2 vocab extend` (MODEL)
# and `gr2 traces` (TRACES) done first. Extra arguments go to every stage, so pass only overrides
# all veRL trainers accept, e.g. trainer.logger='[console,wandb]'.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# Model preset for every stage: qwen3_8b (8 GPUs) or qwen3_1p7b (1 GPU).
export PRESET="${PRESET:-qwen3_8b}"
# The folder `gr2 prepare` wrote.
export DATA_DIR="${DATA_DIR:-data/beauty}"
# The kept reasoning traces (`gr2 traces`).
export TRACES="${TRACES:-$DATA_DIR/traces/sft.parquet}"
# The SID-extended base model (`gr2 vocab extend --out ...`).
BASE_MODEL="${MODEL:?set MODEL to the SID-extended base model folder}"
# Root of every stage's checkpoints and of the evaluation report.
RUNS="${RUNS:-runs/gr2}"

# The HF export of the latest checkpoint under a stage's folder ($2: "" for SFT, "actor" for RL).
latest_hf() { echo "$1/global_step_$(cat "$1/latest_checkpointed_iteration.txt")/${2:+$2/}huggingface"; }

# Stage folders carry the run names the stand-alone scripts use (runs/gr2/gr2_midtrain, ...).
MODEL="$BASE_MODEL" OUT="$RUNS/gr2_midtrain" "$HERE/midtrain_sft.sh" "$@"
MODEL="$(latest_hf "$RUNS/gr2_midtrain")" OUT="$RUNS/gr2_reasoning_sft" "$HERE/reasoning_sft.sh" "$@"
MODEL="$(latest_hf "$RUNS/gr2_reasoning_sft")" OUT="$RUNS/gr2_dapo" "$HERE/dapo.sh" "$@"
MODEL="$(latest_hf "$RUNS/gr2_dapo" actor)" OUT="$RUNS/eval" "$HERE/eval.sh" "$@"
echo "+ done: report in $RUNS/eval"
