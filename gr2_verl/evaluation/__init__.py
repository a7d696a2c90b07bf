"""Evaluation of reranker answers: metrics, reward-hacking diagnostics, baselines, bootstrap CIs."""

from gr2_verl.evaluation.data import Generation, load_generations
from gr2_verl.evaluation.report import FALLBACK_NOTE, evaluate, to_markdown

__all__ = ["FALLBACK_NOTE", "Generation", "evaluate", "load_generations", "to_markdown"]
