"""torch building blocks for the trainable spaces (needs ``pip install "metanas[torch]"``)."""

from __future__ import annotations

try:
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        'metanas.models needs PyTorch; install it with pip install "metanas[torch]".'
    ) from exc

from metanas.models.networks import (
    BlockSpec,
    build_chain_cnn,
    build_mlp,
    build_nb201,
    conv_layout,
    seeded_init,
)
from metanas.models.ops import CELL_OPS, CHAIN_OPS, OPS

__all__ = [
    "CELL_OPS",
    "CHAIN_OPS",
    "OPS",
    "BlockSpec",
    "build_chain_cnn",
    "build_mlp",
    "build_nb201",
    "conv_layout",
    "seeded_init",
]
