"""Qwen3ChatCounter counts what transformers' chat template and tokenizer count, without importing transformers."""

from __future__ import annotations

from data_prep.synthetic import sequential_sid_map
from gr2_verl.prompts import build_messages
from gr2_verl.qwen_tokenizer import Qwen3ChatCounter
from gr2_verl.types import Item, RerankSample

ITEMS = {
    "a": Item("a", "Amélie (2001)", ("Comedy", "Romance")),  # accents
    "b": Item("b", 'The "Quoted" Film\\ (1999)', ("Drama",)),  # quotes and a backslash
    "c": Item("c", "千と千尋の神隠し (2001)", ("Animation",)),  # CJK
    **{f"i{n}": Item(f"i{n}", f"Item {n}  with  spaces\tand a tab", ("Shelf",)) for n in range(12)},
}
SID_MAP = sequential_sid_map(sorted(ITEMS), levels=4, codebook_size=256)
SAMPLE = RerankSample("u:1", "u", "test", ["a", "b", "c", "i0"], [f"i{n}" for n in range(1, 11)], ["i3"])
PROMPTS = [
    build_messages(SAMPLE, ITEMS, SID_MAP)[0],
    build_messages(SAMPLE, ITEMS, SID_MAP, hints="Sequels follow their films.")[0],
    [{"role": "user", "content": "  leading spaces, <think>tags</think> and <|im_end|> in text\n\n"}],  # user only
    [  # a whole conversation: the assistant turn's think block is moved by the template
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "rank"},
        {"role": "assistant", "content": '<think>\nwhy\n</think>\n\n{"ranking": []}'},
        {"role": "user", "content": "again"},
    ],
]


def _reference(tokenizer, prompts) -> list[int]:
    texts = [tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts]
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def test_counts_match_transformers_before_and_after_adding_sid_tokens(qwen_tokenizer):
    counter = Qwen3ChatCounter()
    base = counter.lengths(PROMPTS)
    assert base == _reference(qwen_tokenizer, PROMPTS)
    counter.add_tokens(SID_MAP.vocabulary())
    qwen_tokenizer.add_tokens(SID_MAP.vocabulary())
    with_sids = counter.lengths(PROMPTS)
    assert with_sids == _reference(qwen_tokenizer, PROMPTS)
    assert with_sids[0] < base[0]  # 14 SIDs, each one token per code instead of ~25-30 pieces
