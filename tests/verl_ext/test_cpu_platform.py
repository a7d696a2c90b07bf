"""gr2_verl.verl_ext.cpu_platform: veRL's device helpers answer for CPU when asked, and GPU runs never see it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

PROBE = """
import sys, verl
from verl.plugin.platform import PlatformRegistry
print("gr2_verl.verl_ext" in sys.modules, "cpu" in PlatformRegistry.registered_names(),
      "gr2_verl.verl_ext.cpu_platform" in sys.modules)
"""


def test_gpu_runs_never_load_it():
    """Without VERL_PLATFORM=cpu, `import verl` loads our plugin but neither imports nor registers the
    CPU platform. (With it, test_sft_cpu_smoke.py runs veRL's SFT trainer on this platform.)"""
    env = {k: v for k, v in os.environ.items() if k != "VERL_PLATFORM"}
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split()[-3:] == ["True", "False", "False"]


@pytest.fixture()
def platform():
    from gr2_verl.verl_ext.cpu_platform import PlatformCPU

    return PlatformCPU()


def test_platform_answers_for_cpu(platform):
    assert (platform.device_name, platform.communication_backend_name()) == ("cpu", "gloo")
    # A device, not an index: tensor.to(0) would mean cuda:0.
    assert torch.ones(2).to(platform.current_device()).device.type == "cpu"
    assert platform.is_available() and not platform.is_platform_available(use_smi_check=True)


def test_device_module_has_the_memory_calls_verl_makes(platform):
    module = platform.device_module
    assert module.memory_allocated() == 0 and module.max_memory_reserved() == 0
    assert module.empty_cache() is None and module.synchronize() is None
    free, total = module.mem_get_info()
    assert 0 < free <= total
    state = module.get_rng_state()
    first = torch.rand(3)
    module.set_rng_state(state)
    assert torch.equal(first, torch.rand(3))


LOGPROBS_PROBE = """
import torch, verl
from verl.utils import torch_functional
from gr2_verl.verl_ext import cpu_platform
logits, labels = torch.randn(400, 300), torch.randint(0, 300, (400,))
out = torch_functional.logprobs_from_logits(logits, labels)
expected = torch.log_softmax(logits, -1).gather(-1, labels[:, None])[:, 0]
print(torch_functional.logprobs_from_logits_v2 is cpu_platform._logprobs_from_logits_vectorised,
      float((out - expected).abs().max()))
"""


def test_cpu_log_probs_are_one_vectorised_op():
    """With VERL_PLATFORM=cpu, veRL's logprobs_from_logits (SFT loss, actor log-probs) reaches the vectorised
    swap, not v2's per-row loop, and gives log-softmax's values."""
    env = {**os.environ, "VERL_PLATFORM": "cpu"}
    out = subprocess.run([sys.executable, "-c", LOGPROBS_PROBE], env=env, capture_output=True, text=True, check=True)
    swapped, error = out.stdout.split()[-2:]
    assert swapped == "True"
    assert float(error) < 1e-5
