"""Evaluation of reranker answers: metrics, reward-hacking diagnostics, baselines, bootstrap CIs."""

from gr2_verl.evaluation.data import Generation, RLRow, load_generations, load_rl_rows
from gr2_verl.evaluation.report import FALLBACK_NOTE, evaluate, to_markdown

__all__ = ["FALLBACK_NOTE", "Generation", "RLRow", "evaluate", "load_generations", "load_rl_rows", "to_markdown"]
