#!/usr/bin/env bash
# DAPO ablation | reranker | 8xH100 | expect R@1 and N@5 rising without a format bonus to hack (ReasonRank-style)
# Reward ablation, one override of dapo.sh: NDCG@K + 0.2 * Recall@5, -1 without JSON, 0 for a non-permutation.
# Same knobs as dapo.sh (MODEL, DATA_DIR, PRESET, ...); extra arguments are Hydra overrides.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

"$HERE/../dapo.sh" reward.custom_reward_function.name=listwise_ndcg trainer.experiment_name=gr2_listwise_ndcg "$@"
