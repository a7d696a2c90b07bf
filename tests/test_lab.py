"""gr2 lab: the policy's probabilities, veRL's DAPO pieces, and GR2's finding on a short run."""

from __future__ import annotations

import json
import math

import pytest
import torch

from gr2_verl.lab import LabConfig, lab_summary, synthetic_rl_records
from gr2_verl.lab.policy import BROKEN, COPY, RANK, RerankPolicy
from gr2_verl.lab.train import answer_text, run_lab
from gr2_verl.outcome import judge
from gr2_verl.rl_row import parse_rl_record
from reward_fns import VARIANTS


def _rows(n: int, seed: int = 0, **kw):
    return [parse_rl_record(r, "synthetic", i) for i, r in enumerate(synthetic_rl_records(n, seed=seed, **kw))]


def test_plackett_luce_probabilities_sum_to_one():
    policy = RerankPolicy(3, 2, p_copy=0.2, p_broken=0.1, slot_slope=0.7, skill=0.5)
    x = torch.randn(1, 3, 2)
    perms = torch.tensor([[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]])
    modes = torch.full((6,), RANK)
    lp = policy.log_probs(x.expand(6, -1, -1), modes, perms)
    rank_mode = math.log(0.7)
    assert torch.allclose(lp[:, 0], torch.full((6,), rank_mode), atol=1e-6)
    assert float(torch.logsumexp(lp.detach()[:, 1:].sum(1), 0)) == pytest.approx(0.0, abs=1e-5)  # PL sums to 1
    mask = RerankPolicy.response_mask(torch.tensor([RANK, COPY, BROKEN]), 3)
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0], [1, 0, 0]]  # copy/broken answers are one token


def test_answers_parse_as_an_llm_answer_would():
    row = _rows(1, shuffle=True)[0]
    gt = row.ground_truth
    assert judge(answer_text(row, COPY, range(10)), gt).parsed.order == row.shown_candidates
    assert judge(answer_text(row, BROKEN, range(10)), gt).parsed.status == "missing"
    assert judge(answer_text(row, RANK, [3, 1, 2, 0, 4, 5, 6, 7, 8, 9], slip=True), gt).parsed.status == "duplicate"


def test_lab_reproduces_gr2_copy_hack():
    """naive_format: identity climbs toward 1, R@1 stays at the input order's; conditional_format: it does not."""
    cfg = LabConfig(steps=40, eval_every=10)  # seeds 0-3 all show it by step 40 (identity 0.76-0.94 vs 0.23-0.47)
    res = run_lab(_rows(2000), {n: VARIANTS[n] for n in ("naive_format", "conditional_format")}, cfg)
    summary = {r["variant"]: r for r in lab_summary(res)}
    naive, cond = summary["naive_format"], summary["conditional_format"]
    assert naive["identity_start"] < 0.4 and naive["identity_end"] > 0.7  # "do nothing" takes over
    assert abs(naive["r1_end"] - res["input_order_r1"]) < 0.03  # ... and R@1 stays at the input order's
    assert cond["identity_end"] < 0.5 and cond["identity_end"] < naive["identity_end"] - 0.3
    steps = res["variants"]["naive_format"]["steps"]
    assert all(s["kept_groups"] > 0 for s in steps) and "pg_clipfrac" in steps[-1]  # veRL's loss ran every step
    json.dumps(res)  # JSON-able


def test_lab_rejects_rows_without_targets():
    with pytest.raises(ValueError, match="at least"):
        run_lab(_rows(40, hit_rate=0.5), {"naive_format": VARIANTS["naive_format"]}, LabConfig(steps=1))


def test_cli_writes_report_and_plot(tmp_path, capsys):
    from gr2_verl.cli.main import main

    out = tmp_path / "lab"
    assert main(["lab", "--rows", "300", "--steps", "3", "--variants", "rank_promotion,identity_gated",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for name in ("lab.json", "lab.md", "lab.png"):
        assert (out / name).stat().st_size > 0 and f"wrote {out / name}" in printed
    assert "| identity_gated |" in (out / "lab.md").read_text()
    assert main(["lab", "--variants", "nope", "--out", str(out)]) == 1
    assert "unknown reward variants ['nope']" in capsys.readouterr().err
