"""Fixed backbones of the few-shot learners: small conv nets and an MLP.

A backbone factory is any callable ``(input_shape, n_out) -> nn.Module``
mapping a batch ``(n, *input_shape)`` to ``(n, n_out)`` scores, or to
``(n, d)`` embeddings when ``n_out`` is None (metric learners). MetaNAS plugs
a searchable supernet in through the same signature.
"""

from __future__ import annotations

import math
from collections.abc import Callable

try:
    import torch
    from torch import nn
except ImportError as exc:  # pragma: no cover - exercised only without torch
    raise ImportError('The few-shot learners need torch: pip install "metanas[torch]".') from exc

__all__ = ["BackboneFactory", "ConvBackbone", "MLPBackbone", "make_backbone"]

#: ``(input_shape, n_out) -> module``; ``n_out=None`` asks for an embedding network.
BackboneFactory = Callable[[tuple[int, ...], "int | None"], nn.Module]


def _groups(channels: int) -> int:
    return math.gcd(channels, 4)


class ConvBackbone(nn.Module):
    """Blocks of conv 3 -> GroupNorm -> ReLU -> max-pool 2, then an optional linear head.

    1-D convolutions for inputs ``(channels, length)``, 2-D for
    ``(channels, height, width)``. GroupNorm keeps no running statistics, so
    the network is a pure function of its parameters (what MAML needs).
    """

    def __init__(
        self, input_shape: tuple[int, ...], n_out: int | None, *, hidden: int = 32,
        n_blocks: int | None = None,
    ) -> None:  # fmt: skip
        super().__init__()
        if len(input_shape) not in (2, 3):
            raise ValueError(
                f"ConvBackbone needs inputs (channels, length) or (channels, height, width); "
                f"got input_shape {input_shape}. Use MLPBackbone for tabular data."
            )
        two_d = len(input_shape) == 3
        conv, pool = (nn.Conv2d, nn.MaxPool2d) if two_d else (nn.Conv1d, nn.MaxPool1d)
        size = min(input_shape[1:])
        most = max(1, int(math.log2(max(size, 2))) - 1)  # keep >= 2 positions after pooling
        blocks = min(n_blocks if n_blocks is not None else (2 if two_d else 3), most)
        layers: list[nn.Module] = []
        c_in = input_shape[0]
        for _ in range(blocks):
            layers += [
                conv(c_in, hidden, 3, padding=1),
                nn.GroupNorm(_groups(hidden), hidden),
                nn.ReLU(),
                pool(2),
            ]
            c_in = hidden
        layers.append(nn.Flatten())
        self.features = nn.Sequential(*layers)
        spatial = [d // 2**blocks for d in input_shape[1:]]
        self.out_features = hidden * math.prod(spatial)
        self.head = nn.Linear(self.out_features, n_out) if n_out is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z: torch.Tensor = self.features(x)
        return self.head(z) if self.head is not None else z


class MLPBackbone(nn.Module):
    """``n_layers`` of Linear -> ReLU on flattened inputs, then an optional linear head."""

    def __init__(
        self, input_shape: tuple[int, ...], n_out: int | None, *, hidden: int = 64,
        n_layers: int = 2,
    ) -> None:  # fmt: skip
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        d = math.prod(input_shape)
        for _ in range(n_layers):
            layers += [nn.Linear(d, hidden), nn.ReLU()]
            d = hidden
        self.features = nn.Sequential(*layers)
        self.out_features = d
        self.head = nn.Linear(d, n_out) if n_out is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z: torch.Tensor = self.features(x)
        return self.head(z) if self.head is not None else z


def make_backbone(
    input_shape: tuple[int, ...],
    n_out: int | None,
    *,
    kind: str = "auto",
    hidden: int = 32,
    n_blocks: int | None = None,
) -> nn.Module:
    """The default backbone for ``input_shape``.

    Parameters
    ----------
    input_shape
        Shape of one example: ``(features,)``, ``(channels, length)`` or
        ``(channels, height, width)``.
    n_out
        Number of outputs (classes), or None for an embedding network.
    kind
        ``"conv"``, ``"mlp"`` or ``"auto"`` (conv for sequences and images,
        MLP for tabular data).
    hidden
        Channels of each conv block / units of each MLP layer.
    n_blocks
        Conv blocks (default 3 for sequences, 2 for images) or MLP layers (2).
    """
    if kind == "auto":
        kind = "mlp" if len(input_shape) == 1 else "conv"
    if kind == "conv":
        return ConvBackbone(input_shape, n_out, hidden=hidden, n_blocks=n_blocks)
    if kind == "mlp":
        return MLPBackbone(input_shape, n_out, hidden=hidden, n_layers=n_blocks or 2)
    raise ValueError(f"kind must be 'auto', 'conv' or 'mlp'; got {kind!r}.")
