"""Hardware costs of a torch model: parameters, FLOPs, measured latency, the machine's name.

torch is imported inside the functions; ``pip install "metanas[torch]"`` provides it.
"""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

from metanas._torch import require_torch

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["count_flops", "count_params", "hardware_name", "measure_latency_ms"]


def _torch() -> object:
    return require_torch("Measuring models")


def count_params(model: nn.Module, *, trainable_only: bool = False) -> int:
    """Number of parameters (``sum(p.numel())``; only those with ``requires_grad`` if asked)."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only))


def _device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    import torch

    cpu: torch.device = torch.device("cpu")
    return cpu


def count_flops(model: nn.Module, input_shape: Sequence[int]) -> int:
    """Forward FLOPs for one sample of ``input_shape`` (torch's ``FlopCounterMode``).

    The model runs once in eval mode on a batch of ones of size 1 (ones, not zeros: a model of
    token codes, such as the ``seq-*`` spaces', reads code 0 as padding, and a full-length
    sequence is what its cost should count); a multiply-add
    counts as 2 FLOPs, as torch counts them (convolutions and matrix products;
    element-wise operations are not counted). The training mode is restored.
    """
    _torch()
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    try:
        x = torch.ones((1, *(int(s) for s in input_shape)), device=_device(model))
        counter = FlopCounterMode(display=False)
        with torch.inference_mode(), counter:
            model(x)
        return int(counter.get_total_flops())
    finally:
        model.train(was_training)


def measure_latency_ms(
    model: nn.Module,
    input_shape: Sequence[int],
    batch_size: int = 1,
    *,
    repeats: int = 30,
    warmup: int = 5,
    device: str = "cpu",
) -> float:
    """Median wall time (ms) of a forward pass on a batch of ``batch_size`` samples.

    Runs in eval mode under ``torch.inference_mode`` on ``device`` (the CPU by
    default: the edge-deployment case), after ``warmup`` untimed runs. The
    model is moved back to its device and its training mode is restored.

    Raises
    ------
    ValueError
        For ``batch_size``, ``repeats`` < 1 or ``warmup`` < 0.
    """
    _torch()
    import torch

    if batch_size < 1 or repeats < 1 or warmup < 0:
        raise ValueError(
            f"batch_size and repeats must be >= 1 and warmup >= 0; got batch_size={batch_size}, "
            f"repeats={repeats}, warmup={warmup}."
        )
    was_training = model.training
    original = _device(model)
    dev = torch.device(device)
    model.to(dev).eval()
    cuda = dev.type == "cuda"
    try:
        x = torch.randn((batch_size, *(int(s) for s in input_shape)), device=dev)
        times = []
        with torch.inference_mode():
            for i in range(warmup + repeats):
                if cuda:
                    torch.cuda.synchronize(dev)
                start = time.perf_counter()
                model(x)
                if cuda:
                    torch.cuda.synchronize(dev)
                if i >= warmup:
                    times.append(time.perf_counter() - start)
        return 1000.0 * statistics.median(times)
    finally:
        model.to(original).train(was_training)


@lru_cache(maxsize=8)
def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def hardware_name(device: str = "cpu") -> str:
    """The machine measurements were taken on, e.g. ``"AMD EPYC 7B13 (2 torch threads)"``.

    For a CUDA ``device``, the GPU's name.
    """
    _torch()
    import torch

    dev = torch.device(device)
    if dev.type == "cuda" and torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(dev)} (CUDA)"
    return f"{_cpu_model()} ({torch.get_num_threads()} torch threads)"
