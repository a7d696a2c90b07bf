"""Reward throughput: scores per second on one core for a realistic 10-candidate answer.

The answer carries ~150 tokens of reasoning and 10 SIDs, like GR2's outputs on Beauty.
Goal: >= 20,000 scores/s per reward variant on one core.

    python benchmarks/reward_throughput.py [--seconds 2] [--out runs/bench/reward_throughput.json]
"""

from __future__ import annotations

import argparse
import json
import time

from gr2_verl.io import atomic_write_text
from gr2_verl.types import GroundTruth, sid_string
from reward_fns import VARIANTS

REASONING = (
    "The user watched several space operas and two heist films in the last month, rating the sci-fi ones "
    "highest. Candidate <|sid_begin|><s_a_4><s_b_28><s_c_52><s_d_1><|sid_end|> shares the director and the "
    "franchise of the most recent item, so it goes first. The romance titles fit the older part of the "
    "history only, so they move down. The documentary is a weak match. The two thrillers follow the heist "
    "films. Remaining items keep the pre-ranker's order, since nothing in the history argues for or "
    "against them and the pre-ranker already saw the same signals."
)  # ~150 Qwen3 tokens (counted with the real tokenizer)


def make_case() -> tuple[str, str]:
    cands = [sid_string([i, (7 * i) % 256, (13 * i) % 256, i % 3]) for i in range(10)]
    truth = GroundTruth(candidates=tuple(cands), targets=(cands[4],))
    order = [cands[4], *cands[:4], *cands[5:]]
    answer = f"<think>{REASONING}</think>\n" + json.dumps({"reasoning": "Sci-fi sequel first.", "ranking": order})
    return answer, truth.to_json()


def throughput(fn, answer: str, gt: str, seconds: float) -> float:
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(1000):
            fn("gr2/bench", answer, gt)
        n += 1000
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per variant")
    parser.add_argument("--out", default="runs/bench/reward_throughput.json")
    args = parser.parse_args()
    answer, gt = make_case()
    results = {name: round(throughput(fn, answer, gt, args.seconds)) for name, fn in VARIANTS.items()}
    print(f"answer: {len(answer)} chars, 10 candidates; single thread")
    print("| reward | scores/s |\n|---|---|")
    for name, rate in results.items():
        print(f"| {name} | {rate:,} |")
    path = atomic_write_text(
        args.out, json.dumps({"answer_chars": len(answer), "scores_per_second": results}, indent=2)
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
