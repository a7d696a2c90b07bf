"""The reward lab: train a small stochastic reranking policy on CPU with veRL's own DAPO pieces, per reward.

It answers "can this reward be hacked?" in a minute, before any GPU hour: see ``train.run_lab``
(torch) and ``runner.run_lab_folder`` (what ``gr2 lab`` runs). Importing this package stays torch-free.
"""

from gr2_verl.lab.config import LabConfig
from gr2_verl.lab.report import lab_markdown, lab_summary
from gr2_verl.lab.synthetic import synthetic_rl_records

__all__ = ["LabConfig", "lab_markdown", "lab_summary", "synthetic_rl_records"]
