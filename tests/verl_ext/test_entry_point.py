"""`import verl` loads our plugin module through the `verl.plugins` entry point."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points


def test_entry_point_is_declared():
    names = {ep.name: ep.value for ep in entry_points(group="verl.plugins")}
    assert names.get("gr2_verl") == "gr2_verl.verl_ext"


def test_import_verl_loads_the_plugin():
    code = "import sys, verl; print('gr2_verl.verl_ext' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    assert out.stdout.strip().splitlines()[-1] == "True"
