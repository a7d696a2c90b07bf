"""Greedy answers of a Hugging Face model to RL rows, on CPU, for ``gr2_verl.evaluation``.

The prompt is the row's chat messages through the model's own chat template (the SFT recipes save
theirs with every export), ending at ``<|im_start|>assistant\\n`` as in veRL's rollout. Answers are
decoded with ``skip_special_tokens=True``, as veRL decodes ``solution_str``, and written as JSONL
``{"index", "output"}``, the format ``gr2 eval --generations`` reads.
"""

from __future__ import annotations

import json
from pathlib import Path

from tqdm import tqdm

from gr2_verl.io import atomic_write_text


def generate_answers(
    model_dir: str | Path,
    rl_parquet: str | Path,
    out_path: str | Path,
    *,
    max_new_tokens: int = 128,
    batch_size: int = 50,
    progress: bool = True,
) -> Path:
    """Greedy-decode every row of ``rl_parquet`` with the model in ``model_dir``; write ``out_path`` JSONL."""
    import pyarrow.parquet as pq
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.padding_side = "left"  # decoder-only batches: pad before the prompt
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="sdpa").eval()
    records = pq.read_table(rl_parquet, columns=["prompt", "extra_info"]).to_pylist()
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    lines = []
    batches = range(0, len(records), batch_size)
    for start in tqdm(batches, desc=f"generate {Path(model_dir).name}", disable=not progress):
        batch = records[start : start + batch_size]
        texts = [tokenizer.apply_chat_template(r["prompt"], tokenize=False, add_generation_prompt=True) for r in batch]
        enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            out = model.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                eos_token_id=eos,
                pad_token_id=tokenizer.pad_token_id,
            )
        answers = tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
        for record, answer in zip(batch, answers, strict=True):
            lines.append(json.dumps({"index": record["extra_info"]["index"], "output": answer}, ensure_ascii=False))
    return atomic_write_text(out_path, "\n".join(lines) + "\n")
