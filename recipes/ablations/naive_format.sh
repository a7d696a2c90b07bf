#!/usr/bin/env bash
# DAPO ablation | reranker | 8xH100 | expect identity (input-copy) rate rising toward 1, R@1 stuck at the input order's (GR2 4)
# Reward ablation, one override of dapo.sh: R_rank + alpha for any valid answer, so copying the input order pays alpha.
# Same knobs as dapo.sh (MODEL, DATA_DIR, PRESET, ...); extra arguments are Hydra overrides.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

"$HERE/../dapo.sh" reward.custom_reward_function.name=naive_format trainer.experiment_name=gr2_naive_format "$@"
