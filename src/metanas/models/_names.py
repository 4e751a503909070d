"""Operation names of the trainable spaces, torch-free.

The spaces offer these names as choices and :data:`metanas.models.ops.OPS` builds them; both
import them from here, so ``metanas.spaces`` never imports torch and ``metanas.models`` never
imports ``metanas.spaces``.
"""

from __future__ import annotations

__all__ = ["CELL_OPS", "CHAIN_OPS"]

#: The chain operations of :class:`~metanas.spaces.CNNSpace`, in its choice order.
CHAIN_OPS = (
    "conv3",
    "conv5",
    "conv7",
    "dil_conv3",
    "sep_conv5",
    "max_pool",
    "avg_pool",
    "identity",
)

#: The NAS-Bench-201 cell operations, in the benchmark's order.
CELL_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
