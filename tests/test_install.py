"""The install matches what veRL 0.9.1 runs with: the GPU extra and flash-attn pin are veRL's own,
and the base install has TransferQueue, which main_ppo's V1 trainer imports.

`pip install --dry-run "torch==2.11.0" ".[gpu]"` resolves these pins (271 packages, vllm 0.24.0,
transformers 5.9.0, TransferQueue 0.1.11): that needs the package index, so it is not run here.
"""

from __future__ import annotations

import re
from importlib.metadata import requires, version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _verl_extra_pins(extra: str) -> dict[str, str]:
    """``name -> version`` for the ``==`` pins of one of verl's extras, from its installed metadata."""
    pins = {}
    for req in requires("verl") or []:
        m = re.match(r"([A-Za-z0-9_.\-\[\]]+)==([^;\s]+)\s*;\s*extra\s*==\s*\"" + re.escape(extra) + '"', req)
        if m:
            pins[m.group(1)] = m.group(2)
    return pins


def test_base_install_has_transfer_queue():
    import transfer_queue  # noqa: F401  (verl/trainer/main_ppo.py imports it in TaskRunner.run)


def test_gpu_extra_is_verls_own_vllm_set():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'gpu = ["verl[vllm]=={version("verl")}"]' in pyproject
    assert _verl_extra_pins("vllm")["torch"] == "2.11.0"


def test_flash_attn_pin_and_gpu_torch_are_verls():
    makefile = (ROOT / "Makefile").read_text()
    flash = _verl_extra_pins("flash-attn-cu130torch211")["flash-attn"]
    assert f"FLASH_ATTN ?= flash-attn=={flash}" in makefile
    torch_pin = _verl_extra_pins("vllm")["torch"]
    for doc in ("Makefile", "README.md", "recipes/README.md"):
        assert f'TORCH="torch=={torch_pin}"' in (ROOT / doc).read_text(), doc
