"""The reward lab: train a small stochastic reranking policy on CPU with veRL's own DAPO pieces, per reward.

It answers "can this reward be hacked?" in a minute, before any GPU hour: see ``train.run_lab``.
"""

from gr2_verl.lab.report import lab_markdown, lab_summary
from gr2_verl.lab.synthetic import synthetic_rl_records
from gr2_verl.lab.train import LabConfig, run_lab

__all__ = ["LabConfig", "lab_markdown", "lab_summary", "run_lab", "synthetic_rl_records"]
