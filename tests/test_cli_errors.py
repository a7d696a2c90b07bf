"""One error path for every subcommand: each bad file kind in each input slot exits 1 with one line on stderr
that names the file, no traceback, and nothing written under --out."""

from __future__ import annotations

import json

import pytest

from data_prep.outputs import write_outputs
from data_prep.pipeline import build_samples
from data_prep.synthetic import sequential_sid_map, synthetic_log
from gr2_verl.cli.main import main


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """Real good inputs from the real pipeline: log.csv, items.jsonl, sids.json, test.parquet, a model folder."""
    root = tmp_path_factory.mktemp("good")
    log, items = synthetic_log(20, 30, 8, seed=3)
    log.to_csv(root / "log.csv", index=False)
    with open(root / "items.jsonl", "w") as f:
        for item in items.values():
            f.write(json.dumps({"item_id": item.item_id, "title": item.title, "categories": list(item.categories)}))
            f.write("\n")
    sid_map = sequential_sid_map(list(items), levels=3, codebook_size=16)
    sid_map.save(str(root / "sids.json"))
    prepared = build_samples(log, min_interactions=3, k=10)
    catalogue = {i: items[i] for i in prepared.item_ids}
    write_outputs(prepared.samples, catalogue, sid_map, root / "data", dataset="t", popularity=prepared.popularity,
                  keep_all=True, prompt_stats=False)  # fmt: skip
    (root / "model").mkdir()
    (root / "model" / "config.json").write_text("{}")  # enough to pass the folder check; --sids fails first
    return root


# How each subcommand takes the bad file: argv built from (bad path, good inputs, --out).
SLOTS = {
    "prepare --interactions": ("csv", lambda b, g, o: ["prepare", "custom", "--interactions", b, "--items",
                               f"{g}/items.jsonl", "--sid-map", f"{g}/sids.json", "--out", o, "--k-core", "3"]),
    "prepare --items": ("jsonl", lambda b, g, o: ["prepare", "custom", "--interactions", f"{g}/log.csv", "--items", b,
                        "--sid-map", f"{g}/sids.json", "--out", o, "--k-core", "3"]),
    "prepare --candidates": ("jsonl", lambda b, g, o: ["prepare", "custom", "--interactions", f"{g}/log.csv", "--items",
                             f"{g}/items.jsonl", "--candidates", b, "--sid-map", f"{g}/sids.json", "--out", o]),
    "prepare --sid-map": ("json", lambda b, g, o: ["prepare", "custom", "--interactions", f"{g}/log.csv", "--items",
                          f"{g}/items.jsonl", "--sid-map", b, "--out", o]),
    "sid fit --items": ("jsonl", lambda b, g, o: ["sid", "fit", "--items", b, "--out", o]),
    "sid report": ("json", lambda b, g, o: ["sid", "report", b, "--out", f"{o}/r.json"]),
    "vocab extend --sids": ("json", lambda b, g, o: ["vocab", "extend", "--model", f"{g}/model", "--sids", b,
                            "--out", o]),
    "eval --test": ("parquet", lambda b, g, o: ["eval", "--test", b, "--out", o]),
    "eval --generations": ("jsonl", lambda b, g, o: ["eval", "--test", f"{g}/data/rl/test.parquet",
                           "--generations", b, "--out", o]),
    "lab --data": ("parquet", lambda b, g, o: ["lab", "--data", b, "--out", o, "--steps", "1"]),
    "validate": ("parquet", lambda b, g, o: ["validate", b]),
    "traces --rl": ("parquet", lambda b, g, o: ["traces", "--rl", b, "--out", o, "--backend", "http", "--model", "m"]),
}

# What a user hands us by mistake, per file kind: name suffix and how to make it (None: leave it missing).
BAD = {
    "missing": lambda path, good: None,
    "folder": lambda path, good: path.mkdir(),
    "empty": lambda path, good: path.write_bytes(b""),
    "not UTF-8": lambda path, good: path.write_bytes(b'{"item_id": "caf\xe9"}\n'),  # Latin-1 export
    "truncated": lambda path, good: path.write_bytes(_truncated(path, good)),
    "CSV renamed": lambda path, good: path.write_text("user_id,item_id,timestamp\nu1,i1,1\n"),
}


def _truncated(path, good) -> bytes:
    """The first half of a good file of the same kind: a copy cut short by a full disk or a killed job."""
    source = {"parquet": "data/rl/test.parquet", "csv": "log.csv", "jsonl": "items.jsonl", "json": "sids.json"}
    data = (good / source[path.suffix.lstrip(".")]).read_bytes()
    return data[: len(data) // 2]


def _cases():
    for slot, (kind, _) in SLOTS.items():
        for bad in BAD:
            if bad == "CSV renamed" and kind in ("csv", "jsonl"):
                continue  # a CSV is a good CSV; a CSV as JSONL is a JSON error like "truncated"
            if bad == "truncated" and kind == "csv":
                continue  # half a CSV is a shorter valid CSV; a cut row is caught as a field error elsewhere
            yield pytest.param(slot, bad, id=f"{slot}-{bad}")


@pytest.mark.parametrize("slot, bad", list(_cases()))
def test_bad_file_is_one_line_naming_it(tmp_path, good, capsys, slot, bad):
    kind, argv = SLOTS[slot]
    path = tmp_path / f"bad.{kind}"
    BAD[bad](path, good)
    out = tmp_path / "out"
    code = main(argv(str(path), str(good), str(out)))
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and err.startswith(f"gr2 {slot.split()[0]}: error: "), err
    assert str(path) in err and "Traceback" not in err
    if bad == "not UTF-8" and kind != "parquet":
        assert f"{path}: line 1: not UTF-8 text" in err  # the line to fix, not just the file
    assert not out.exists()  # nothing written, not even an empty folder


# --out given as an existing file: refused before any slow work (SID fitting, embedding, a model load).
OUT_IS_A_FILE = {
    "prepare": lambda g, o: ["prepare", "custom", "--interactions", f"{g}/log.csv", "--items", f"{g}/items.jsonl",
                             "--out", o],  # no --sid-map: would fit SIDs for minutes first
    "sid fit": lambda g, o: ["sid", "fit", "--items", f"{g}/items.jsonl", "--out", o],
    "vocab": lambda g, o: ["vocab", "extend", "--model", f"{g}/model", "--sids", f"{g}/sids.json", "--out", o],
    "eval": lambda g, o: ["eval", "--test", f"{g}/data/rl/test.parquet", "--out", o],
    "lab": lambda g, o: ["lab", "--out", o],
    "traces": lambda g, o: ["traces", "--rl", f"{g}/data/rl/test.parquet", "--out", o, "--backend", "http",
                            "--model", "m"],
}


@pytest.mark.parametrize("command", list(OUT_IS_A_FILE))
def test_out_that_is_a_file_is_refused_first(tmp_path, good, capsys, command):
    out = tmp_path / "report.md"
    out.write_text("a good file the user keeps")
    assert main(OUT_IS_A_FILE[command](str(good), str(out))) == 1
    err = capsys.readouterr().err
    assert err == f"gr2 {command.split()[0]}: error: {out}: --out exists and is not a folder\n"
    assert out.read_text() == "a good file the user keeps"


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(FileNotFoundError):
        main(["--debug", "validate", str(tmp_path / "nope.parquet")])
    with pytest.raises(FileNotFoundError):
        main(["validate", str(tmp_path / "nope.parquet"), "--debug"])
