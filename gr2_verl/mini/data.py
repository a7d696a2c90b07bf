"""The miniature GR2 task: a synthetic shop whose next item is learnable from the prompt, written as real veRL data.

The rule a small model can pick up: **the user's next item comes from the category that follows their most
recent item's in a fixed cycle** (``CATEGORIES`` in order, Sports back to Books: a domain hint such as
"shampoo -> conditioner", learnt from the data). Every sample holds exactly one candidate of that category (the
target) among K, and no history item has it: the target's category code appears once in the prompt, so an answer
that puts it first copies its SID from one place. (With the rule "same category as the most recent item", the
last history item always shared the target's first code, and 59 of 100 rule answers took its second code:
recipes/README.md, "Why DAPO finds nothing to reinforce".) One negative always has the most recent item's own
category (the pick of a same-category heuristic, the teacher's habit in ``trace_answer``), the other negatives
come from other categories. The pre-ranker's order puts the target at a
position drawn from ``TARGET_POSITION_WEIGHTS`` (first about a third of the time), so the input order is a fair
but beatable baseline and the target sits in every slot.

SIDs have two levels: the first code is the category, the second the item (numbered across the whole
catalogue), so the rule is visible in the SIDs alone (as a real RQ-VAE's first level clusters similar items)
and in the text. With the second code numbered within the category, an item's second code said nothing about
it on its own, and answers that left the input order often took it from the wrong SID (recipes/README.md,
"Why DAPO finds nothing to reinforce").

The dataset folder is written by ``data_prep.outputs.write_outputs`` (RL parquet per split, mid-training
SFT rows); ``write_traces`` adds reasoning-SFT rows from a synthetic teacher (``traces/sft.parquet``).

Copying: a real base LLM can already copy text from its prompt; a random tiny model cannot, and without
that skill every answer names SIDs outside the list. ``copy_rows`` adds mid-training rows whose answer is
the candidate list as a JSON ranking, in the order shown or with one named item first: mostly on the
candidate block alone (short rows, where the skill appeared as a sudden drop in loss after ~150-300 steps
of 32 at 2,000 training samples), some on the whole RL prompt (where it must work). The whole-prompt rows
are also written alone (``COPY_PROMPTS``) for a second, short mid-training phase after the drop.
recipes/README.md, "Learning to copy", has the measurements. Reasoning SFT trains on the traces mixed with
mid-training rows (``REPLAY``, one for every two traces): traces alone wiped out the copy skill, while one
mixture from scratch learnt both ("Learning to reorder").
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data_prep.outputs import write_outputs
from data_prep.sft_parquet import SFT_SCHEMA
from gr2_verl.io import atomic_write_text, write_parquet
from gr2_verl.mini.model import SID_PATTERN
from gr2_verl.prompts import CANDIDATES_HEADER
from gr2_verl.rl_row import read_rl_rows
from gr2_verl.types import Item, RerankSample, SidMap

CATEGORIES = ("Books", "Music", "Garden", "Toys", "Games", "Tools", "Kitchen", "Sports")
NOUNS = ("Classic", "Deluxe", "Mini", "Pro", "Starter", "Travel", "Family", "Vintage")
TARGET_POSITION_WEIGHTS = (0.34, 0.22, 0.18, 0.14, 0.12, 0.0, 0.0, 0.0)  # input order R@1 ~ 0.34 at K=5
DATASET = "mini"
COPY_PROMPTS = "sft/copy_prompt.parquet"  # the whole-prompt copy rows alone: the second mid-training phase
REPLAY = "sft/replay.parquet"  # mid-training rows mixed into reasoning SFT, REPLAY_SHARE of the traces' count
# Half as many replay rows as traces: every reasoning-SFT row is padded to a trace's length, so a replay row costs
# as much as a trace; at one each, half the reasoning SFT went on replay (recipes/README.md, session 10).
REPLAY_SHARE = 0.5


@dataclass(frozen=True)
class MiniConfig:
    """Sizes of the miniature task (defaults: ~300-token prompts, K=5)."""

    train: int = 20000  # the rule's thought was learnt from 20k rows (recipes/README.md, "Learning to reorder")
    val: int = 32
    test: int = 200
    k: int = 5
    history: int = 5
    items_per_category: int = 6
    seed: int = 0


def catalogue(cfg: MiniConfig) -> tuple[dict[str, Item], SidMap]:
    """Items ``i<cat>_<n>`` titled ``<noun> <category> <n>`` and a collision-free 2-level SID map (category, item)."""
    items, codes = {}, {}
    for c, cat in enumerate(CATEGORIES):
        for n in range(cfg.items_per_category):
            item_id = f"i{c}_{n}"
            items[item_id] = Item(item_id, f"{NOUNS[n % len(NOUNS)]} {cat} {n}", (cat,))
            codes[item_id] = (c, len(codes))
    return items, SidMap(levels=2, codebook_size=len(codes), codes=codes)


def next_category(c: int) -> int:
    """The rule's category after category ``c`` (index into ``CATEGORIES``)."""
    return (c + 1) % len(CATEGORIES)


def _sample(rng: random.Random, cfg: MiniConfig, split: str, n: int) -> RerankSample:
    cats = list(range(len(CATEGORIES)))
    last_cat = rng.choice(cats)
    target_cat = next_category(last_cat)
    history_cats = [rng.choice([c for c in cats if c != target_cat]) for _ in range(cfg.history - 1)] + [last_cat]
    history: list[str] = []
    for c in history_cats:
        choices = [f"i{c}_{j}" for j in range(cfg.items_per_category) if f"i{c}_{j}" not in history]
        history.append(rng.choice(choices))
    target = f"i{target_cat}_{rng.randrange(cfg.items_per_category)}"
    others = [c for c in cats if c not in (target_cat, last_cat)]
    same = rng.choice([f"i{last_cat}_{j}" for j in range(cfg.items_per_category) if f"i{last_cat}_{j}" not in history])
    negatives = [same] + [f"i{c}_{rng.randrange(cfg.items_per_category)}" for c in rng.sample(others, cfg.k - 2)]
    weights = TARGET_POSITION_WEIGHTS[: cfg.k]
    position = rng.choices(range(cfg.k), weights=weights)[0]
    rng.shuffle(negatives)
    candidates = negatives[:position] + [target] + negatives[position:]
    return RerankSample(f"u{split}{n}:0", f"u{split}{n}", split, history, candidates, [target])


def make_samples(cfg: MiniConfig) -> list[RerankSample]:
    """Train, val and test samples, seeded; neither the history nor the negatives hold the target's category,
    one negative holds the most recent item's."""
    if cfg.k > len(CATEGORIES) or cfg.k < 2:
        raise ValueError(f"k must be in 2..{len(CATEGORIES)}, got {cfg.k}")
    if cfg.items_per_category <= cfg.history:
        raise ValueError(f"items_per_category must exceed history ({cfg.history}), got {cfg.items_per_category}")
    rng = random.Random(cfg.seed)
    sizes = {"train": cfg.train, "val": cfg.val, "test": cfg.test}
    return [_sample(rng, cfg, split, n) for split, size in sizes.items() for n in range(size)]


def trace_answer(sids: Sequence[str], categories: Sequence[str], target_pos: int, *, follow_rule: bool) -> str:
    """A synthetic teacher's answer: ``<think>`` reasoning, then the JSON ranking.

    ``follow_rule``: the target (of the category after the most recent item's) first; otherwise the teacher's
    habit, a same-category heuristic: the candidate of the most recent item's own category first (a negative:
    a weak teacher, as GR2's SFT-only model is). The rest stay in input order. The thought names the most
    recent item's category and the category it picks, then walks the candidates in order, one line each:
    category, ``yes``/``no``, SID. Each step is one the tiny model can learn (copy a word, compare it with the
    wanted category, copy a SID), and the answer then copies the ``yes`` SID and the ``no`` SIDs in order;
    recipes/README.md, "Learning to reorder", has the thoughts that were not learnt.
    """
    wanted = CATEGORIES.index(categories[target_pos])
    last = CATEGORIES[next(c for c in range(len(CATEGORIES)) if next_category(c) == wanted)]
    pick = target_pos if follow_rule else categories.index(last)
    order = [sids[pick]] + [s for i, s in enumerate(sids) if i != pick]
    marks = ["yes" if i == pick else "no" for i in range(len(sids))]
    lines = [f"{c} {m} {s}" for c, m, s in zip(categories, marks, sids, strict=True)]
    thought = "\n".join([f"Last: {last}, so {categories[pick]}.", *lines])
    answer = json.dumps({"reasoning": f"{categories[pick]} first", "ranking": order}, ensure_ascii=False)
    return f"<think>\n{thought}\n</think>\n{answer}"


def write_traces(data_dir: Path, rule_share: float, seed: int) -> dict[str, Any]:
    """``traces/sft.parquet``: each training RL row's prompt + a teacher answer (``rule_share`` follow the rule,
    the rest the same-category habit)."""
    import pyarrow.parquet as pq

    table = pq.read_table(data_dir / "rl" / "train.parquet").to_pylist()
    rows = read_rl_rows(data_dir / "rl" / "train.parquet")
    sid_map = SidMap.load(str(data_dir / "sid_map.json"))
    category_of = {sid_map.sid(item): code[0] for item, code in sid_map.codes.items()}
    rng = random.Random(f"{seed}:traces")
    out, followed = [], 0
    for record, row in zip(table, rows, strict=True):
        sids = row.truth.candidates
        target_pos = sids.index(row.truth.targets[0])
        categories = [CATEGORIES[category_of[sid]] for sid in sids]
        follow = rng.random() < rule_share
        followed += follow
        answer = trace_answer(sids, categories, target_pos, follow_rule=follow)
        out.append({"messages": [*record["prompt"], {"role": "assistant", "content": answer}], "task": "trace"})
    path = data_dir / "traces" / "sft.parquet"
    write_parquet(out, SFT_SCHEMA, path)
    return {"rows": len(out), "follow_rule": followed, "path": str(path)}


def copy_rows(
    rl_parquet: Path, *, orders: int, prompt_share: float, seed: int, promote_share: float = 0.5
) -> list[dict[str, Any]]:
    """Mid-training rows answering the candidate list as ``{"ranking": [...]}`` in the order shown.

    Per RL row: ``orders`` short rows (the candidate block alone, lines reshuffled, so the list is not
    memorised) and, for ``prompt_share`` of the rows, the whole prompt with the list as given. A share
    ``promote_share`` of the short rows (``promote_list``) ends with ``Put the <Category> item first.`` and
    answers that item, then the rest in the order shown: the rule's answer with the choice given. Without
    them every copy is position for position, and 73 of 100 answers forced into the rule's order took a
    SID's second code from another item (recipes/README.md, "Why DAPO finds nothing to reinforce").
    """
    rng = random.Random(f"{seed}:copy")
    rows = []
    for row in read_rl_rows(rl_parquet):
        user = row.prompt[-1]["content"]
        header, rest = user[user.index(CANDIDATES_HEADER) :].split("\n", 1)
        lines, tail = rest.split("\n\n", 1)
        lines = lines.split("\n")
        for _ in range(orders):
            rng.shuffle(lines)
            sids = [SID_PATTERN.search(line).group(0) for line in lines]
            task, ending = "copy_list", tail
            if rng.random() < promote_share:
                pick = rng.randrange(len(lines))
                category = lines[pick].rsplit("| ", 1)[1]
                task, ending = "promote_list", f"Put the {category} item first."
                sids = [sids[pick]] + [s for i, s in enumerate(sids) if i != pick]
            block = "\n".join([header, *lines]) + "\n\n" + ending
            answer = {"role": "assistant", "content": json.dumps({"ranking": sids})}
            rows.append({"messages": [{"role": "user", "content": block}, answer], "task": task})
        if rng.random() < prompt_share:
            answer = {"role": "assistant", "content": json.dumps({"ranking": list(row.shown_candidates)})}
            rows.append({"messages": [*row.prompt, answer], "task": "copy_prompt"})
    return rows


def write_dataset(out_dir: str | Path, cfg: MiniConfig, *, rule_share: float) -> dict[str, Any]:
    """The dataset folder (``gr2 prepare`` layout) plus ``traces/sft.parquet``; returns the summary."""
    import pyarrow.parquet as pq

    out = Path(out_dir)
    items, sid_map = catalogue(cfg)
    samples = make_samples(cfg)
    popularity = _popularity(samples)
    summary = write_outputs(
        samples, items, sid_map, out, dataset=DATASET, popularity=popularity, seed=cfg.seed, prompt_stats=False
    )
    summary["traces"] = write_traces(out, rule_share, cfg.seed)
    midtrain = out / "sft" / "midtrain.parquet"
    copies = copy_rows(out / "rl" / "train.parquet", orders=3, prompt_share=0.5, seed=cfg.seed)
    mixture = pq.read_table(midtrain).to_pylist() + copies
    write_parquet(mixture, SFT_SCHEMA, midtrain)
    whole = [row for row in copies if row["task"] == "copy_prompt"]
    write_parquet(whole, SFT_SCHEMA, out / COPY_PROMPTS)
    replay_rows = min(len(mixture), round(REPLAY_SHARE * summary["traces"]["rows"]))
    replay = random.Random(f"{cfg.seed}:replay").sample(mixture, replay_rows)
    write_parquet(replay, SFT_SCHEMA, out / REPLAY)
    summary["sft_midtrain"]["copy_rows"] = len(copies)
    summary["sft_midtrain"]["copy_prompt_rows"] = len(whole)
    summary["sft_midtrain"]["replay_rows"] = len(replay)
    summary["mini"] = {
        **cfg.__dict__,
        "rule_share": rule_share,
        "rule": "target's category follows the last history item's (Books, Music, ..., Sports, Books)",
    }
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return summary


def _popularity(samples: Sequence[RerankSample]) -> Mapping[str, int]:
    counts: dict[str, int] = {}
    for s in samples:
        if s.split == "train":
            for item in (*s.history, *s.targets):
                counts[item] = counts.get(item, 0) + 1
    return counts
