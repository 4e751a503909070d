"""PyTorch is an optional extra: one place that imports it or says how to install it."""

from __future__ import annotations

from typing import Any

__all__ = ["require_torch"]


def require_torch(purpose: str) -> Any:
    """Import and return ``torch``; without it, an ImportError naming ``purpose`` and the fix."""
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            f'{purpose} needs PyTorch; install it with pip install "metanas[torch]".'
        ) from exc
    return torch
