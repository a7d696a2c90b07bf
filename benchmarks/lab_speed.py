"""Wall time of the reward lab with default settings (target: every variant in <= 2 minutes on 2 CPU cores).

    .venv/bin/python benchmarks/lab_speed.py            # all five reward variants, synthetic rows
"""

from __future__ import annotations

import time

from gr2_verl.lab import LabConfig, lab_summary, synthetic_rl_records
from gr2_verl.lab.train import run_lab
from gr2_verl.rl_row import parse_rl_record
from reward_fns import VARIANTS


def main() -> None:
    rows = [parse_rl_record(r, "synthetic", i) for i, r in enumerate(synthetic_rl_records(2000))]
    cfg = LabConfig()
    start = time.perf_counter()
    result = run_lab(rows, dict(VARIANTS), cfg)
    seconds = time.perf_counter() - start
    answers = cfg.steps * cfg.prompts_per_step * cfg.group_size * len(VARIANTS)
    print(f"lab: {len(VARIANTS)} variants x {cfg.steps} steps in {seconds:.1f} s "
          f"({seconds / len(VARIANTS):.1f} s per variant, >= {answers / seconds:.0f} scored answers/s)")
    print(f"input-order R@1 (held-out): {result['input_order_r1']:.3f}")
    for r in lab_summary(result):
        print(f"  {r['variant']:<20} identity {r['identity_start']:.2f} -> {r['identity_end']:.2f} "
              f"(peak {r['identity_peak']:.2f})  R@1 {r['r1_start']:.3f} -> {r['r1_end']:.3f}")


if __name__ == "__main__":
    main()
