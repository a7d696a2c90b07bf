"""Conventions checked by glob: every reward module is exported, tested, documented, small and pure."""

from __future__ import annotations

import ast
from pathlib import Path

import reward_fns

ROOT = Path(__file__).resolve().parents[2]
MODULES = sorted(p.stem for p in (ROOT / "reward_fns").glob("*.py") if p.stem != "__init__")


def test_every_module_is_a_variant_with_a_test_and_a_readme_row():
    readme = (ROOT / "README.md").read_text()
    assert MODULES == sorted(reward_fns.VARIANTS)
    for name in MODULES:
        assert getattr(reward_fns, name) is reward_fns.VARIANTS[name]
        assert (ROOT / "tests" / "reward_fns" / f"test_{name}.py").exists(), name
        assert f"`{name}`" in readme, name


def test_modules_are_small_pure_and_documented():
    for name in MODULES:
        source = (ROOT / "reward_fns" / f"{name}.py").read_text()
        tree = ast.parse(source)
        assert len(source.splitlines()) < 150, name
        doc = ast.get_docstring(tree)
        assert doc and "R" in doc and "Example" in doc, f"{name}: formula and worked example in the docstring"
        banned = {"print", "open"}
        calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        assert not calls & banned, name
        assert not any(isinstance(n, (ast.Global, ast.Assert)) for n in ast.walk(tree)), name
        handlers = [n for n in ast.walk(tree) if isinstance(n, ast.ExceptHandler)]
        assert all(h.type is not None and getattr(h.type, "id", "") != "Exception" for h in handlers), name
        fns = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "compute_score"]
        assert fns and [a.arg for a in fns[0].args.args[:4]] == [
            "data_source",
            "solution_str",
            "ground_truth",
            "extra_info",
        ], name
