"""gr2-verl: train LLM rerankers for recommender systems with veRL, the GR2 way."""

__version__ = "0.1.0"
