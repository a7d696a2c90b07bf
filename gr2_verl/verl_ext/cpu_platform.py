"""A CPU platform for veRL's ``PlatformRegistry``: smoke-test the SFT recipes on a laptop.

Stock veRL 0.9.1 cannot train on CPU: ``initialize_global_process_group`` asks the platform for its
backend (NCCL on the CUDA platform) and the engines move tensors to ``get_device_id()`` (an int,
which torch reads as ``cuda:<int>``). This platform answers ``cpu`` / ``gloo`` /
``torch.device("cpu")`` and turns the GPU memory calls into no-ops, so
``torchrun -m verl.trainer.sft_trainer`` runs a real step on a tiny model (~16 s of CPU time)::

    VERL_PLATFORM=cpu VERL_ENGINE_DEVICE=cuda VERL_ENGINE_VENDOR=nvidia \\
      torchrun --standalone --nproc_per_node=1 -m verl.trainer.sft_trainer ... engine.strategy=fsdp2 \\
      +model.override_config.attn_implementation=sdpa trainer.device=cpu

(recipes/README.md, "Smoke-test on a laptop", gives the recipe form; the recipes already use FSDP2.)

``VERL_ENGINE_DEVICE/VENDOR`` make the engine registry hand out its FSDP engine (registered for
``cuda`` only); the engine itself runs on whatever ``get_device_id()`` returns.

Three veRL functions cannot be reached through the platform. Two are process-group setup:
``initialize_global_process_group`` (torchrun, SFT) and its Ray twin ``initialize_global_process_group_ray``
(``main_ppo``'s workers) build the backend ``f"cpu:gloo,{device}:{backend}"``, which torch rejects when the
device is ``cpu`` ("Duplicate device type cpu"). ``install()`` therefore registers the platform and also
swaps those two functions for ones that ask for plain ``gloo``. ``verl.workers.engine_workers`` imports the
Ray one by name, which works because plugins load inside ``import verl``, before any veRL module that could
bind the original.

The third is speed: without flash-attn or an NPU, ``verl.utils.torch_functional.logprobs_from_logits``
(every SFT loss and every actor log-prob) falls back to ``logprobs_from_logits_v2``, which takes one
``logsumexp`` per row to save GPU memory. The FSDP engine hands it packed ``(tokens, vocab)`` logits, so
on CPU that is one tiny op per token plus a backward graph as long: measured 17.5 s against 0.13 s for
one vectorised ``logsumexp`` (forward + backward, 8000 tokens x 704-token vocabulary, identical values).
``install()`` swaps in the vectorised form for fp32/fp64 logits (the CPU presets' dtype); veRL's own
function still handles the rest. ``logprobs_from_logits`` looks the name up in its module on each call, so
the swap reaches every caller. If veRL renames it, importing this module fails loudly; if it inlines it, CPU
runs silently get slow again (tests/verl_ext/test_cpu_platform.py checks ``logprobs_from_logits`` reaches the swap).
Nothing else in veRL is touched.

It is a developer utility, never used on GPUs: ``gr2_verl.verl_ext`` imports this module and calls
``install()`` only when ``VERL_PLATFORM=cpu`` is set, and ``is_platform_available`` is False so
veRL's auto-detection would never pick it anyway. Training on CPU checks that a recipe runs; it does
not train useful models.
"""

from __future__ import annotations

import os
import types
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import torch
import torch.distributed
import verl.utils.distributed
import verl.utils.torch_functional
from verl.plugin.platform import PlatformBase, PlatformRegistry

PLATFORM_NAME = "cpu"  # the value of VERL_PLATFORM that selects this platform
_original_initialize_ray = verl.utils.distributed.initialize_global_process_group_ray  # wrapped, not rewritten
_original_logprobs_v2 = verl.utils.torch_functional.logprobs_from_logits_v2  # still used for low-precision logits


def _no_memory_stats(*args: Any, **kwargs: Any) -> int:
    """CPU memory is not tracked per device: every allocator statistic reads 0."""
    return 0


def _no_op(*args: Any, **kwargs: Any) -> None:
    """CPU has no device cache, peak counters or memory fraction to manage."""


def _mem_get_info(*args: Any, **kwargs: Any) -> tuple[int, int]:
    """(free, total) bytes of the host: veRL only logs these."""
    import psutil

    memory = psutil.virtual_memory()
    return memory.available, memory.total


def _build_device_module() -> types.ModuleType:
    """``torch.cpu`` plus the ``torch.cuda`` memory/RNG calls veRL makes, as CPU no-ops or equivalents."""
    module = types.ModuleType("gr2_verl_cpu_device")
    for name in dir(torch.cpu):
        if not name.startswith("__"):
            setattr(module, name, getattr(torch.cpu, name))
    for name in ("memory_allocated", "memory_reserved", "max_memory_allocated", "max_memory_reserved"):
        setattr(module, name, _no_memory_stats)
    for name in ("empty_cache", "ipc_collect", "reset_peak_memory_stats", "set_per_process_memory_fraction"):
        setattr(module, name, _no_op)
    module.memory_stats = lambda *args, **kwargs: {}
    module.mem_get_info = _mem_get_info
    module.get_device_name = lambda *args, **kwargs: "cpu"
    module.current_device = lambda: torch.device("cpu")
    module.get_rng_state = lambda *args, **kwargs: torch.get_rng_state()
    module.set_rng_state = lambda state, *args, **kwargs: torch.set_rng_state(state)
    module.manual_seed = torch.manual_seed
    module.manual_seed_all = torch.manual_seed
    return module


def _initialize_gloo_process_group(timeout_second: int = 36000) -> tuple[int, int, int]:
    """``verl.utils.distributed.initialize_global_process_group`` for CPU: one gloo backend for all tensors."""
    torch.distributed.init_process_group(
        backend="gloo",
        timeout=timedelta(seconds=timeout_second),
        init_method=os.environ.get("DIST_INIT_METHOD", None),
    )
    return int(os.environ["LOCAL_RANK"]), int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])


def _initialize_gloo_process_group_ray(timeout_second: int | None = None, backend: str | None = None) -> None:
    """``verl.utils.distributed.initialize_global_process_group_ray`` for CPU: plain gloo unless told otherwise."""
    _original_initialize_ray(timeout_second=timeout_second, backend=backend or "gloo")


def _logprobs_from_logits_vectorised(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``logprobs_from_logits_v2`` in one ``logsumexp`` over all rows (fp32/fp64); other dtypes go to veRL's."""
    if logits.dtype not in (torch.float32, torch.float64):
        return _original_logprobs_v2(logits, labels)
    return torch.gather(logits, -1, labels.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, dim=-1)


class PlatformCPU(PlatformBase):
    """veRL platform for host CPUs: gloo collectives, ``torch.device("cpu")`` as the current device."""

    def __init__(self) -> None:
        self._device_module = _build_device_module()

    @property
    def device_name(self) -> str:
        return "cpu"

    @property
    def vendor_name(self) -> str:
        return "cpu"

    @property
    def device_module(self) -> types.ModuleType:
        return self._device_module

    def is_available(self) -> bool:
        return True

    def is_platform_available(self, use_smi_check: bool = False) -> bool:
        """Never auto-detected: a GPU host falling back to CPU would be a silent disaster."""
        return False

    def current_device(self) -> torch.device:  # type: ignore[override]
        """A device, not an index: veRL does ``tensor.to(get_device_id())`` and ``.to(0)`` means cuda:0."""
        return torch.device("cpu")

    def device_count(self) -> int:
        return 1

    def set_device(self, device_index: int) -> None:
        """Every rank shares the host; there is nothing to select."""

    def synchronize(self, device_index: int | None = None) -> None:
        """CPU ops are synchronous."""

    def manual_seed(self, seed: int) -> None:
        torch.manual_seed(seed)

    def manual_seed_all(self, seed: int) -> None:
        torch.manual_seed(seed)

    def set_allocator_settings(self, settings: str) -> None:
        """The CPU allocator has no expandable segments."""

    def empty_cache(self) -> None:
        """No device cache on CPU."""

    def get_device_capability(self, device_index: int = 0) -> tuple[int | None, int | None]:
        return None, None

    def communication_backend_name(self) -> str:
        return "gloo"

    def visible_devices_envvar(self) -> str:
        return "CUDA_VISIBLE_DEVICES"  # harmless on CPU; veRL reads it when it spreads ranks over devices

    @contextmanager
    def nvtx_range(self, msg: str):
        yield

    def profiler_start(self) -> None:
        """No device profiler on CPU."""

    def profiler_stop(self) -> None:
        """No device profiler on CPU."""

    def ray_resource_name(self) -> str:
        return "CPU"

    def ray_resource_options(self, num_gpus: float) -> dict[str, Any]:
        return {"num_cpus": num_gpus}

    def ray_noset_envvars(self) -> list[str]:
        return []

    def is_ipc_supported(self) -> bool:
        return False

    def cudart(self) -> None:
        return None


def install() -> None:
    """Register ``PlatformCPU`` as veRL platform "cpu", give veRL a gloo-only process-group init and
    vectorised fp32 log-probs."""
    PlatformRegistry.register(platform=PLATFORM_NAME)(PlatformCPU)
    verl.utils.torch_functional.logprobs_from_logits_v2 = _logprobs_from_logits_vectorised
    verl.utils.distributed.initialize_global_process_group = _initialize_gloo_process_group
    verl.utils.distributed.initialize_global_process_group_ray = _initialize_gloo_process_group_ray
