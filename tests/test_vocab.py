"""SID vocabulary extension with the real Qwen3 tokenizer and a tiny random Qwen3 model."""

from __future__ import annotations

import json

import pytest
import torch

from gr2_verl.cli.main import main
from gr2_verl.types import SID_BEGIN, SID_END, SidMap, sid_code_token, sid_string
from gr2_verl.vocab import add_sid_tokens, extend_vocabulary

FULL = SidMap(levels=4, codebook_size=256, codes={"1": (97, 168, 137, 135), "2": (0, 255, 7, 1)})


def test_every_sid_token_is_one_id(qwen_tokenizer):
    before = len(qwen_tokenizer)
    ids = add_sid_tokens(qwen_tokenizer, FULL.vocabulary())
    assert len(qwen_tokenizer) == before + 4 * 256 + 2
    assert len(set(ids)) == len(ids) and min(ids) == before
    for token, token_id in zip(FULL.vocabulary(), ids, strict=True):
        assert qwen_tokenizer.encode(token, add_special_tokens=False) == [token_id]


@pytest.mark.parametrize(
    "template",
    [
        "{sid}",  # bare
        "History:\n1. {sid} Toy Story (1995) | Animation, Comedy\n",  # prompt line, space before
        '{{"reasoning": "like {sid}", "ranking": ["{sid}", "{sid}"]}}',  # the answer JSON, quotes around
        "<think>user liked{sid}so</think>",  # glued to words on both sides
        "s_a_97>{sid}<s_a",  # look-alike fragments of SID tokens around it
    ],
)
def test_sid_in_text_is_l_plus_2_tokens_and_survives_decode(qwen_tokenizer, template):
    ids = add_sid_tokens(qwen_tokenizer, FULL.vocabulary())
    lookup = dict(zip(FULL.vocabulary(), ids, strict=True))
    sid = FULL.sid("1")
    expected = [lookup[SID_BEGIN], *(lookup[sid_code_token(lv, c)] for lv, c in enumerate(FULL.codes["1"])),
                lookup[SID_END]]
    text = template.format(sid=sid)
    encoded = qwen_tokenizer.encode(text, add_special_tokens=False)
    windows = [encoded[i : i + 6] for i in range(len(encoded) - 5)]
    assert windows.count(expected) == text.count(sid)
    assert sum(1 for t in encoded if t in set(ids)) == 6 * text.count(sid)  # no stray SID ids
    # veRL decodes solution_str with skip_special_tokens=True: normal added tokens must survive it
    assert qwen_tokenizer.decode(encoded, skip_special_tokens=True) == text


def test_sid_tokens_are_not_special(qwen_tokenizer):
    add_sid_tokens(qwen_tokenizer, FULL.vocabulary())
    assert not set(FULL.vocabulary()) & set(qwen_tokenizer.all_special_tokens)


def test_adding_twice_adds_nothing(qwen_tokenizer):
    first = add_sid_tokens(qwen_tokenizer, FULL.vocabulary())
    size = len(qwen_tokenizer)
    assert add_sid_tokens(qwen_tokenizer, FULL.vocabulary()) == first and len(qwen_tokenizer) == size


def test_special_token_clash_is_an_error(qwen_tokenizer):
    with pytest.raises(ValueError, match="special tokens"):
        add_sid_tokens(qwen_tokenizer, ["<|im_end|>"])


SMALL = SidMap(levels=4, codebook_size=8, codes={"1": (1, 2, 3, 4), "2": (0, 7, 7, 0)})


@pytest.fixture(scope="module")
def extended(tiny_qwen_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("extended")
    summary = extend_vocabulary(tiny_qwen_dir, SMALL, out, init="mean", seed=0)
    return out, summary


def test_saved_folder_reloads_with_tokens_and_rows(tiny_qwen_dir, extended):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out, summary = extended
    base_tok = AutoTokenizer.from_pretrained(tiny_qwen_dir)
    tok = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out)
    base = AutoModelForCausalLM.from_pretrained(tiny_qwen_dir)
    assert summary["tokens_added"] == 4 * 8 + 2 and len(tok) == len(base_tok) + 34
    rows = model.get_input_embeddings().weight
    assert rows.shape[0] >= len(tok) and rows.shape[0] % 64 == 0
    old = base.get_input_embeddings().weight
    assert torch.equal(rows[: len(base_tok)], old[: len(base_tok)])  # existing tokens' rows untouched
    new_ids = tok.convert_tokens_to_ids(SMALL.vocabulary())
    new = rows[new_ids]
    assert torch.isfinite(new).all()
    # near the mean of the old rows, yet distinct from each other
    assert (new - old.mean(0)).norm(dim=1).max() < 0.5 * old.norm(dim=1).mean()
    assert torch.cdist(new, new).fill_diagonal_(1.0).min() > 0
    assert SidMap.load(str(out / "sid_map.json")) == SMALL
    assert json.loads((out / "sid_vocab.json").read_text())["tokens_added"] == 34


def test_saved_folder_generates_from_a_sid_prompt(extended):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out, _ = extended
    tok = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out)
    messages = [{"role": "user", "content": f"I watched {SMALL.sid('1')}. Rank: {SMALL.sid('2')}"}]
    prompt = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    ids = tok(prompt, return_tensors="pt").input_ids
    assert tok.decode(ids[0], skip_special_tokens=True).count(SID_BEGIN) == 2
    torch.manual_seed(0)
    generated = model.generate(ids, max_new_tokens=8, do_sample=False, pad_token_id=tok.pad_token_id)
    assert generated.shape[1] == ids.shape[1] + 8 or generated[0, -1] == model.config.eos_token_id


def test_pieces_init_starts_from_text_pieces(tiny_qwen_dir, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    extend_vocabulary(tiny_qwen_dir, SMALL, tmp_path, init="pieces")
    base_tok = AutoTokenizer.from_pretrained(tiny_qwen_dir)
    old = AutoModelForCausalLM.from_pretrained(tiny_qwen_dir).get_input_embeddings().weight
    tok = AutoTokenizer.from_pretrained(tmp_path)
    rows = AutoModelForCausalLM.from_pretrained(tmp_path).get_input_embeddings().weight
    token = sid_code_token(2, 5)
    pieces = base_tok.encode(token, add_special_tokens=False)
    assert len(pieces) > 1
    assert torch.allclose(rows[tok.convert_tokens_to_ids(token)], old[pieces].mean(0), atol=1e-6)


def test_cli_extend(tiny_qwen_dir, tmp_path, capsys):
    sids = tmp_path / "sid_map.json"
    SMALL.save(str(sids))
    out = tmp_path / "model"
    assert main(["vocab", "extend", "--model", tiny_qwen_dir, "--sids", str(sids), "--out", str(out)]) == 0
    assert "added 34 of 34 SID tokens" in capsys.readouterr().out
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(out)
    assert len(tok.encode(sid_string([1, 2, 3, 4]), add_special_tokens=False)) == 6
