"""What one answer did to one candidate list: parse, positions, and the hacking diagnostics.

Every reward variant scores a ``RankingOutcome`` and returns ``outcome.reward_dict(score)``, so all
variants log the same keys, in the same types, for every sample (veRL requires it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gr2_verl.metrics import is_identity, kendall_tau, rank_of
from gr2_verl.parsing import ParsedRanking, parse_ranking
from gr2_verl.types import GroundTruth, parse_ground_truth


@dataclass(frozen=True)
class RankingOutcome:
    """A parsed answer against its ground truth.

    ``target_in_pos``/``target_out_pos`` are the first target's 1-based positions in the input and
    output (0: absent, or output invalid); ``top1_in_pos`` is the input position of the answer's first
    item (0 for an invalid output). ``r_rank`` is the rank promotion
    ``mean over in-list targets of (r_D - r_o) / K``, 0 for an invalid output.
    """

    truth: GroundTruth
    parsed: ParsedRanking
    target_in_pos: int
    target_out_pos: int
    r_rank: float
    is_identity: bool
    kendall_tau: float
    top1_in_pos: int = 0

    @property
    def valid(self) -> bool:
        return self.parsed.valid

    @property
    def in_order_optimal(self) -> bool:
        """True when the input order already puts every in-list target first (nothing to promote)."""
        in_list = [t for t in self.truth.targets if t in self.truth.candidates]
        return set(self.truth.candidates[: len(in_list)]) == set(in_list)

    def reward_dict(self, score: float) -> dict[str, Any]:
        """The dict veRL logs per sample: same keys and types on every path."""
        return {
            "score": float(score),
            "acc": 1.0 if self.valid and self.target_out_pos == 1 else 0.0,
            "pred": json.dumps(list(self.parsed.order), ensure_ascii=False) if self.valid else "",
            "valid": 1.0 if self.valid else 0.0,
            "status": self.parsed.status,
            "r_rank": float(self.r_rank),
            "target_in_pos": int(self.target_in_pos),
            "target_out_pos": int(self.target_out_pos),
            "is_identity": 1.0 if self.is_identity else 0.0,
            "kendall_tau": float(self.kendall_tau),
            "top1_in_pos": int(self.top1_in_pos),
        }


def judge(solution_str: object, ground_truth: str | Mapping[str, Any]) -> RankingOutcome:
    """Parse ``solution_str`` against ``ground_truth`` (see ``gr2_verl.types``) and measure it.

    Never raises on the answer; raises ValueError on a malformed ground truth (a data bug).
    """
    truth = parse_ground_truth(ground_truth)
    parsed = parse_ranking(solution_str, truth.candidates)
    candidates = truth.candidates
    k = len(candidates)
    target_in = rank_of(truth.targets[0], candidates)
    if not parsed.valid:
        return RankingOutcome(truth, parsed, target_in, 0, 0.0, False, 0.0)
    order = parsed.order
    promotions = [(rank_of(t, candidates) - rank_of(t, order)) / k for t in truth.targets if t in candidates]
    r_rank = sum(promotions) / len(promotions) if promotions else 0.0
    return RankingOutcome(
        truth=truth,
        parsed=parsed,
        target_in_pos=target_in,
        target_out_pos=rank_of(truth.targets[0], order),
        r_rank=r_rank,
        is_identity=is_identity(order, candidates),
        kendall_tau=kendall_tau(order, candidates),
        top1_in_pos=rank_of(order[0], candidates) if order else 0,
    )
