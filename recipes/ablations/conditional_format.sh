#!/usr/bin/env bash
# DAPO ablation | reranker | 8xH100 | expect R@1 above the input order's (GR2 Beauty: 0.2977 vs 0.2892); the baseline run
# Reward ablation, one override of dapo.sh: GR2's reward (dapo.sh's default), named for a side-by-side run.
# Same knobs as dapo.sh (MODEL, DATA_DIR, PRESET, ...); extra arguments are Hydra overrides.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

"$HERE/../dapo.sh" reward.custom_reward_function.name=conditional_format trainer.experiment_name=gr2_conditional_format "$@"
