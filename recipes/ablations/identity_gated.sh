#!/usr/bin/env bash
# DAPO ablation | reranker | 8xH100 | expect no order copying: gated AUC pays nothing for an unchanged sub-optimal order
# Reward ablation, one override of dapo.sh: the industrial variant, AUC ranking reward zeroed for copying a sub-optimal input order.
# Same knobs as dapo.sh (MODEL, DATA_DIR, PRESET, ...); extra arguments are Hydra overrides.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

"$HERE/../dapo.sh" reward.custom_reward_function.name=identity_gated trainer.experiment_name=gr2_identity_gated "$@"
