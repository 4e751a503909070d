"""torch building blocks for the trainable spaces, one-shot and few-shot search.

Needs ``pip install "metanas[torch]"``. The package itself imports no torch: the op-name tuples
(:data:`CHAIN_OPS`, :data:`CELL_OPS`, from the torch-free :mod:`metanas.models._names`) load
without it, so the spaces can name their operations; the builders load torch on first access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from metanas.models._lazy import lazy_attr
from metanas.models._names import CELL_OPS, CHAIN_OPS

if TYPE_CHECKING:
    from metanas.models.networks import (
        BlockSpec,
        build_chain_cnn,
        build_mlp,
        build_nb201,
        conv_layout,
        seeded_init,
    )
    from metanas.models.ops import OPS
    from metanas.models.supernet import CellSuperNet, MixedOp, SuperNet

__all__ = [
    "CELL_OPS",
    "CHAIN_OPS",
    "OPS",
    "BlockSpec",
    "CellSuperNet",
    "MixedOp",
    "SuperNet",
    "build_chain_cnn",
    "build_mlp",
    "build_nb201",
    "conv_layout",
    "seeded_init",
]

_LAZY = {
    "OPS": "ops",
    "BlockSpec": "networks",
    "build_chain_cnn": "networks",
    "build_mlp": "networks",
    "build_nb201": "networks",
    "conv_layout": "networks",
    "seeded_init": "networks",
    "CellSuperNet": "supernet",
    "MixedOp": "supernet",
    "SuperNet": "supernet",
}


def __getattr__(name: str) -> Any:
    return lazy_attr(__name__, _LAZY, name)
