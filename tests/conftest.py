"""Shared fixtures: the real Qwen3 tokenizer and a tiny random-weight Qwen3 model (both offline)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def pytest_collection_modifyitems(config, items):
    if os.environ.get("GR2_RUN_GPU_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason="GPU test: set GR2_RUN_GPU_TESTS=1 on a CUDA machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def qwen_tokenizer_dir() -> str:
    from gr2_verl.qwen_tokenizer import qwen3_tokenizer_dir

    return qwen3_tokenizer_dir()


@pytest.fixture()
def qwen_tokenizer(qwen_tokenizer_dir):
    """A fresh real Qwen3 tokenizer per test (tests may add tokens to it)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(qwen_tokenizer_dir)


@pytest.fixture(scope="session")
def tiny_qwen_dir(tmp_path_factory, qwen_tokenizer_dir) -> str:
    """A tiny random-weight Qwen3 causal LM (head_dim 32) saved with the real tokenizer."""
    from transformers import AutoTokenizer

    from gr2_verl.mini.model import TinyQwen3, tiny_qwen3

    tok = AutoTokenizer.from_pretrained(qwen_tokenizer_dir)
    model = tiny_qwen3(
        tok,
        TinyQwen3(
            hidden_size=64,
            intermediate_size=128,
            num_attention_heads=2,
            num_key_value_heads=1,
            max_position_embeddings=4096,
        ),
    )
    out = tmp_path_factory.mktemp("tiny_qwen3")
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return str(out)
