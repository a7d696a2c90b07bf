"""The README's folder map names every module under its layer, and imports follow the layer rule.

Imports are read from the source (``ast``), those inside functions too: a lazy import is still a
dependency, and a cycle between layers must not hide behind one.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("gr2_verl", "reward_fns", "data_prep")
README = (ROOT / "README.md").read_text()
ROW = re.compile(r"^\| `([^`]+)` \| ([^|]+?) \| ([^|]+) \|$", re.M)


def rule() -> dict[str, set[str]]:
    """layer -> layers it may import, from the README's two-column layer table (itself included)."""
    table = README.split("| layer | may import |", 1)[1].split("\n\n", 1)[0]
    rows = [row for row in re.findall(r"^\| ([^|]+?) \| ([^|]+?) \|$", table, re.M) if set(row[0]) != {"-"}]
    layers = {layer for layer, _ in rows}
    return {
        layer: layers if may == "everything" else {m.strip() for m in may.split(",")} | {layer} for layer, may in rows
    }


def folder_map() -> dict[str, str]:
    """README path (file or folder, folders ending in /) -> its layer."""
    return {path: layer.strip() for path, layer, _ in ROW.findall(README) if layer.strip() != "layer"}


def modules() -> list[Path]:
    return sorted(p.relative_to(ROOT) for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def layer_of(path: Path, mapping: dict[str, str]) -> str | None:
    """The layer of the most specific map entry that covers ``path``."""
    text = path.as_posix()
    covering = [p for p in mapping if text == p or (p.endswith("/") and text.startswith(p))]
    return mapping[max(covering, key=len)] if covering else None


def module_path(name: str) -> Path | None:
    """The source file an absolute import of ``name`` (a module or package) resolves to in this repo."""
    base = ROOT / Path(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate.relative_to(ROOT)
    return None


def imports(source: str) -> set[str]:
    """Every absolute import of our packages in a source file, anywhere in it, as module names."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)  # `from pkg import module`
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {n for n in found if n.split(".")[0] in PACKAGES and module_path(n) is not None}


def test_the_rule_and_map_parse():
    allowed, mapping = rule(), folder_map()
    assert {"core", "rewards", "data", "tools", "cli"} <= set(allowed)
    assert set(mapping.values()) <= set(allowed), "a folder-map row names a layer the rule does not know"
    assert len(mapping) >= 20


def test_every_map_entry_exists():
    missing = [p for p in folder_map() if not (ROOT / p).exists()]
    assert not missing, f"README folder map names paths that do not exist: {missing}"


def test_every_module_is_in_the_map():
    mapping = folder_map()
    unmapped = [str(p) for p in modules() if layer_of(p, mapping) is None]
    assert not unmapped, f"add these to the README's folder map, under their layer: {unmapped}"


def violations(layer: str, source: str) -> list[str]:
    """Imports in ``source`` that a module of ``layer`` may not make, as "module (its layer)"."""
    allowed, mapping = rule(), folder_map()
    bad = []
    for name in sorted(imports(source)):
        target = layer_of(module_path(name), mapping)
        if target is not None and target not in allowed[layer]:
            bad.append(f"{name} ({target})")
    return bad


@pytest.mark.parametrize("path", modules(), ids=str)
def test_imports_follow_the_layer_rule(path):
    layer = layer_of(path, folder_map())
    if layer is None:
        pytest.skip("not in the map (test_every_module_is_in_the_map fails)")
    bad = violations(layer, (ROOT / path).read_text())
    assert not bad, f"{path} ({layer}) may import only {sorted(rule()[layer])}; it imports {bad}"


@pytest.mark.parametrize(
    "layer, source, bad",
    [
        ("core", "def f():\n    from gr2_verl.lab.train import run_lab\n", ["gr2_verl.lab.train (tools)"]),  # lazy
        ("rewards", "import gr2_verl.evaluation\n", ["gr2_verl.evaluation (tools)"]),  # the old cycle's shape
        ("core", "from gr2_verl import quickstart\n", ["gr2_verl.quickstart (pipelines)"]),  # module via package
        ("tools", "from reward_fns import VARIANTS\nimport gr2_verl.types\n", []),  # allowed
        ("cli", "import gr2_verl.quickstart\nimport data_prep.outputs\n", []),  # cli wires everything
    ],
    ids=["lazy import", "rewards -> tools", "from package import module", "allowed", "cli"],
)
def test_the_checker(layer, source, bad):
    assert violations(layer, source) == bad
