"""PyTorch is an optional extra: one place that imports it or says how to install it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["require_torch", "torch_threads"]


def require_torch(purpose: str) -> Any:
    """Import and return ``torch``; without it, an ImportError naming ``purpose`` and the fix."""
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            f'{purpose} needs PyTorch; install it with pip install "metanas[torch]".'
        ) from exc
    return torch


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads, then restore the caller's count.

    None, or the count already in force, leaves torch untouched.
    """
    if n is None:
        yield
        return
    torch = require_torch("Setting torch's thread count")
    previous = torch.get_num_threads()
    if previous == n:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
